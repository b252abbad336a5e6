package io.hotmem.internal;

import io.hotmem.FailureReason;
import io.hotmem.RelocationReport;
import io.hotmem.internal.jfr.CompactionEvent;

import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Compaction of one zone (Linux {@code mm/compaction.c}): live movable blocks are moved towards the zone's end so
 * that the free pages they leave behind merge into large blocks.
 *
 * <h2>The two scanners</h2>
 * As in Linux, a <em>migrate scanner</em> walks used blocks up from the zone's start, and a <em>free scanner</em>
 * supplies free blocks from the zone's end ({@link Zone#allocateRunAboveLocked}: the highest free block that holds
 * the run, cut from its top). A block moves only upwards, into a free block above its own run, so every move makes
 * progress and the walk ends. The walk stops where the scanners meet: at the lowest page a block was moved to (above
 * it the zone is being packed), at the zone's end, at the deadline, or, for a direct compaction, as soon as a free
 * block of the order wanted exists. Moves are {@link Relocator#compactBatch}, the drain's protocol
 * ({@link HandleProtocol}): readers and writers go on throughout, and every block is either moved whole or left
 * valid where it was.
 *
 * <p>What stays: pinned blocks (a pin is never forced: the batch spins briefly, then skips) and non-movable
 * allocations, counted per reason (PINNED, UNMOVABLE) as the blocks left; a report is complete when the walk
 * ended with none left and no deadline or interrupt. Not counted: blocks being allocated, freed, cached or moved
 * by someone else at that moment, and blocks with no free block above that holds them (for their size the
 * scanners have met).
 *
 * <p>Thread caches: the zone's cached blocks are reclaimed first (to merge; a cached block is never moved).
 * Compaction holds no control lock, so it runs beside a drain or remap of the same zone: a draining zone takes no
 * compaction target, and the freeze CAS decides any block both want. Only an ENABLED zone takes targets, so a
 * disabled zone is not compacted. It holds the zone lock for one batch's inspection and targets at a time.
 *
 * <h2>When it runs</h2>
 * <ul>
 *   <li>{@code compact(zoneId, timeout)}, the command {@code compact Z} and the MXBean: the whole walk.</li>
 *   <li>Direct: an allocation of order {@code k >= 1} that no zone could serve, in a zone with at least
 *       {@code 2^k} free pages, compacts that zone until an order-{@code k} block is free, for at most
 *       {@link #DIRECT_BUDGET_NANOS}; a zone where that failed is deferred for {@link #DEFER_NANOS}.</li>
 *   <li>Background: the agent compacts an ENABLED zone that is {@link #fragmented} at most every
 *       {@link #DEFER_NANOS} per zone, for at most {@link #BACKGROUND_BUDGET_NANOS} per round.</li>
 * </ul>
 */
final class Compactor {
    /** Free heads the free scanner looks at per block (its lists are not sorted by address). */
    static final int MAX_LOOKS = 4096;
    /** Longest a direct compaction delays the allocation that asked for it. */
    static final long DIRECT_BUDGET_NANOS = 20_000_000L;
    /** Longest one background compaction runs in one agent round. */
    static final long BACKGROUND_BUDGET_NANOS = 50_000_000L;
    /** How long a zone is left alone after a compaction that did not form the order it wanted. */
    static final long DEFER_NANOS = 1_000_000_000L;
    /** Most bytes one batch copies before the deadline is looked at again. */
    static final long BATCH_BYTES = 8L << 20;

    /** Who asked: the JFR event's trigger. */
    enum Trigger {
        COMMAND("command"), DIRECT("direct"), BACKGROUND("background");

        final String label;

        Trigger(String label) {
            this.label = label;
        }
    }

    private final AllocatorContext ctx;
    private final Relocator relocator;
    private final CacheRegistry registry;
    private final String name;
    /** Whether direct and background compaction run ({@code Builder.compaction}); a command always runs. */
    private final boolean automatic;

    Compactor(AllocatorContext ctx, CacheRegistry registry, boolean automatic) {
        this.ctx = ctx;
        this.automatic = automatic;
        this.relocator = new Relocator(ctx);
        this.registry = registry;
        this.name = ctx.name;
    }

    /**
     * Whether the agent should compact {@code z}: its free pages would fill at least two blocks of
     * {@code maxOrder}, and less than half of them are in free blocks of {@code maxOrder} (Linux's unusable free
     * space index at {@code maxOrder}, {@code 1 - free pages in blocks of maxOrder / free pages}, above 0.5).
     */
    static boolean fragmented(Zone z) {
        z.lock.lock();
        try {
            if (!z.isOpenLocked()) {
                return false;
            }
            long free = z.freePagesLocked();
            long whole = (long) z.freeBlocksLocked(z.maxOrder) << z.maxOrder;
            return free >= 2L << z.maxOrder && whole * 2 < free;
        } finally {
            z.lock.unlock();
        }
    }

    /**
     * Compacts {@code z} until the scanners meet, or, with {@code wantOrder >= 0}, until it has a free block of
     * that order; at most until {@code deadlineNanos}. The caller holds no lock.
     */
    RelocationReport compact(Zone z, Trigger trigger, int wantOrder, long startNanos, long deadlineNanos) {
        z.compactions.incrementAndGet();
        try {
            return compactCounted(z, trigger, wantOrder, startNanos, deadlineNanos);
        } finally {
            z.compactions.decrementAndGet();
        }
    }

    private RelocationReport compactCounted(Zone z, Trigger trigger, int wantOrder, long startNanos,
                                            long deadlineNanos) {
        CompactionEvent event = new CompactionEvent();
        event.begin();
        // A direct compaction checks its deadline and goal after every block; the others after a batch of at most
        // BATCH blocks or BATCH_PAGES_BYTES bytes, so that no deadline is overrun by more than a few copies.
        int batchLimit = trigger == Trigger.DIRECT ? 1 : Relocator.BATCH;
        long batchPages = Math.max(1, BATCH_BYTES >>> z.pageShift);
        String operation = "compact " + z.label() + " of node " + z.node.id;
        int before = largestFreeOrder(z);
        registry.reclaim(new Zone[] {z});
        Relocator.Progress progress = new Relocator.Progress();
        Relocator.Batch batch = new Relocator.Batch();
        int[] counts = new int[Relocator.Outcome.values().length];
        int meet = Integer.MAX_VALUE;
        int page = 0;
        FailureReason stop = null;
        boolean reached = false;
        boolean closedMidway = false;
        String closedWhy = null;
        boolean walked = false;
        while (true) {
            if (wantOrder >= 0 && largestFreeOrder(z) >= wantOrder) {
                reached = true;
                break;
            }
            batch.size = 0;
            z.lock.lock();
            try {
                if (!z.isOpenLocked() || z.isDrainingLocked()) {
                    // Disabled, unplugged or being remapped: no target can be taken.
                    closedMidway = true;
                    closedWhy = z.isOpenLocked() ? "a remap of the zone is running" : "node " + z.node.id
                            + " is no longer ENABLED";
                    break;
                }
                int head = z.nextUsedHeadLocked(page);
                long pages = 0;
                while (head != Zone.NIL && head < meet && batch.size < batchLimit && pages < batchPages) {
                    batch.heads[batch.size++] = head;
                    pages += z.runPagesLocked(head);
                    head = z.nextUsedHeadLocked(head + z.runPagesLocked(head));
                }
                page = head == Zone.NIL ? z.pages : head;
            } finally {
                z.lock.unlock();
            }
            if (batch.size == 0) {
                reached = wantOrder < 0;
                break;
            }
            walked = true;
            // Checked once there is something to move: an empty or finished walk is complete at any deadline. A
            // direct compaction is part of an allocation (or a long-term pin), which no interrupt stops: only its
            // short deadline and close do; a command or the agent stops when its thread is interrupted.
            if ((trigger != Trigger.DIRECT && Thread.currentThread().isInterrupted()) || ctx.isClosed()) {
                stop = FailureReason.INTERRUPTED;
            } else if (System.nanoTime() - deadlineNanos >= 0) {
                stop = FailureReason.TIMED_OUT;
            }
            if (stop != null) {
                page = batch.heads[0];
                break;
            }
            meet = Math.min(meet, relocator.compactBatch(z, batch, progress, MAX_LOOKS));
            for (int i = 0; i < batch.size; i++) {
                counts[batch.outcomes[i].ordinal()]++;
            }
        }
        // NO_MEMORY is where the free scanner has nothing left above a block: the scanners met for its size. BUSY
        // blocks were being freed, moved by another mover or cached: not left behind by this walk.
        long left = counts[Relocator.Outcome.PINNED.ordinal()] + counts[Relocator.Outcome.UNMOVABLE.ordinal()];
        if (stop != null) {
            long notWalked = usedBetween(z, page, meet);
            left += notWalked;
            if (notWalked == 0) {
                stop = null; // what was left to walk was freed meanwhile: nothing was cut short
            }
        }
        Map<FailureReason, Integer> failures = new EnumMap<>(FailureReason.class);
        Relocator.putIfPositive(failures, FailureReason.PINNED, counts[Relocator.Outcome.PINNED.ordinal()]);
        Relocator.putIfPositive(failures, FailureReason.UNMOVABLE, counts[Relocator.Outcome.UNMOVABLE.ordinal()]);
        if (stop != null) {
            failures.put(stop, 1);
        }
        List<RelocationReport.Straggler> stragglers = Relocator.stragglers(ctx, progress);
        // Complete exactly when nothing is left (as for the other relocations), whatever stopped the walk.
        RelocationReport r = new RelocationReport(operation, left == 0 && !closedMidway, progress.moved,
                progress.movedBytes, left, stragglers, failures, Duration.ofNanos(System.nanoTime() - startNanos));
        int after = largestFreeOrder(z);
        if (event.shouldCommit()) {
            event.allocator = name;
            event.zone = z.id;
            event.trigger = trigger.label;
            event.complete = r.complete();
            event.movedBlocks = r.moved();
            event.movedBytes = r.movedBytes();
            event.largestFreeOrderBefore = before;
            event.largestFreeOrderAfter = after;
            event.failures = failures.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                    .collect(Collectors.joining(" "));
            event.commit();
        }
        if (trigger == Trigger.COMMAND || r.moved() > 0) {
            Telemetry.LOG.log(System.Logger.Level.INFO, "{0}: {1} ({2}; largest free order {3} -> {4})", name, r,
                    trigger.label, before, after);
        }
        // Deferred when the zone could not give what was asked; left as it was when the caller stopped the walk
        // (interrupted or closing): that says nothing of the zone, and would make every thread's allocations skip
        // it meanwhile (or undo another walk's deferral).
        if (stop != FailureReason.INTERRUPTED) {
            boolean failed = wantOrder >= 0 && !reached || wantOrder < 0 && r.moved() == 0;
            z.compactDeferredUntil = failed ? System.nanoTime() + DEFER_NANOS : System.nanoTime();
        }
        if (closedMidway && trigger == Trigger.COMMAND) {
            throw new IllegalStateException(walked
                    ? operation + " stopped: " + closedWhy + ", so the zone takes no blocks; what moved stays moved ("
                    + r + ")"
                    : "cannot " + operation + ": " + closedWhy + ", so the zone takes no blocks (nothing moved)");
        }
        return r;
    }

    /**
     * Direct compaction for an allocation of {@code order} that no zone of {@code list} could serve: each zone that
     * has enough free pages and is not deferred is compacted until it has a free block of that order, in list
     * order, stopping at the first that has one.
     *
     * @return whether some zone now has one
     */
    boolean compactFor(Zone[] list, int order) {
        if (order == 0 || !automatic) {
            return false; // a single free page is always a block
        }
        long start = System.nanoTime();
        long deadline = start + DIRECT_BUDGET_NANOS; // for the whole list, not per zone
        for (Zone z : list) {
            if (z.pages < 1 << order || System.nanoTime() - z.compactDeferredUntil < 0
                    || z.freePages() + registry.cachedPages(z.id) < 1L << order) {
                continue;
            }
            if (System.nanoTime() - deadline >= 0) {
                break;
            }
            compact(z, Trigger.DIRECT, order, start, deadline);
            if (largestFreeOrder(z) >= order) {
                return true;
            }
        }
        return false;
    }

    /** The agent's pass: compacts each fragmented zone not deferred. @return blocks moved */
    long background(Zone[] zones) {
        long moved = 0;
        if (!automatic) {
            return 0;
        }
        for (Zone z : zones) {
            if (ctx.isClosed()) {
                break;
            }
            if (System.nanoTime() - z.compactDeferredUntil < 0 || !fragmented(z)) {
                continue;
            }
            long start = System.nanoTime();
            RelocationReport r = compact(z, Trigger.BACKGROUND, -1, start, start + BACKGROUND_BUDGET_NANOS);
            moved += r.moved();
            // At most one background compaction per zone per DEFER_NANOS; ten times longer after one that moved
            // nothing (a zone of pinned or non-movable blocks stays fragmented).
            z.compactDeferredUntil = System.nanoTime() + (r.moved() > 0 ? DEFER_NANOS : 10 * DEFER_NANOS);
        }
        return moved;
    }

    /** @return the used blocks with heads in {@code [from, to)} of {@code z} */
    private static long usedBetween(Zone z, int from, int to) {
        long n = 0;
        z.lock.lock();
        try {
            if (!z.isPluggedLocked()) {
                return 0;
            }
            for (int h = z.nextUsedHeadLocked(Math.min(from, z.pages)); h != Zone.NIL && h < to;
                 h = z.nextUsedHeadLocked(h + z.runPagesLocked(h))) {
                n++;
            }
        } finally {
            z.lock.unlock();
        }
        return n;
    }

    static int largestFreeOrder(Zone z) {
        z.lock.lock();
        try {
            return z.isPluggedLocked() ? z.largestFreeOrderLocked() : -1;
        } finally {
            z.lock.unlock();
        }
    }
}
