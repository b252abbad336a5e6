package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.FailureReason;
import io.hotmem.RelocationProgress;
import io.hotmem.RelocationReport;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

import static io.hotmem.internal.HandleLayout.FREE;
import static io.hotmem.internal.HandleLayout.MOVING;

/**
 * Moves live blocks out of zones (Linux page migration): one block at a time with {@link #move}, and whole zones
 * in passes with {@link #relocate}. The protocol is {@link HandleProtocol}; this class drives its mover side
 * (inspect, freeze, copy, publish the move or unfreeze) over the zones' page maps.
 *
 * <p>Several movers may run at once (a drain and a {@code pinLongTerm}): the freeze CAS decides which one moves a
 * block, and a mover that finds the location changed after freezing backs off. A mover never holds two zone locks.
 */
final class Relocator {
    /** What happened to one block. */
    enum Outcome {
        MOVED,
        /** Pinned through every quick attempt. */
        PINNED,
        /** No target zone had a block of its order. */
        NO_MEMORY,
        /** A non-movable allocation. */
        UNMOVABLE,
        /** Being allocated, freed or moved by someone else right now: try again later. */
        BUSY
    }

    /** Quick attempts at freezing a block whose pins come and go (writers pin for nanoseconds). */
    private static final int FREEZE_ATTEMPTS = 64;
    private static final long MAX_BACKOFF_NANOS = 50_000_000L;
    private static final long PROGRESS_INTERVAL_NANOS = 50_000_000L;

    private final AllocatorContext ctx;
    private final HandleTable table;

    Relocator(AllocatorContext ctx) {
        this.ctx = ctx;
        this.table = ctx.table;
    }

    /** Progress of one relocation, for the report. */
    static final class Progress {
        long moved;
        long movedBytes;
        /** Pin counts and first-seen times of blocks found pinned, by slot. */
        final Map<Integer, Long> pinnedSince = new HashMap<>();
    }

    /** Blocks handled per batch: each batch takes the source zone's lock three times and each target's once. */
    static final int BATCH = 64;

    /** Per-batch scratch arrays, reused by one relocation. */
    static final class Batch {
        final int[] heads = new int[BATCH];
        final int[] slots = new int[BATCH];
        /** Run lengths in pages. */
        final int[] runs = new int[BATCH];
        final long[] states = new long[BATCH];
        final Zone[] dst = new Zone[BATCH];
        final int[] dstPages = new int[BATCH];
        final Outcome[] outcomes = new Outcome[BATCH];
        final int[] toFree = new int[BATCH];
        int size;
    }

    /**
     * Moves the used block at head {@code page} of {@code src} into the first of {@code targets} with room.
     * The caller holds no zone lock.
     */
    Outcome move(Zone src, int page, Zone[] targets, Progress progress) {
        Batch b = new Batch();
        b.heads[0] = page;
        b.size = 1;
        moveBatch(src, b, targets, progress);
        return b.outcomes[0];
    }

    /**
     * Moves the blocks at heads {@code b.heads[0 .. b.size)} of {@code src}, setting {@code b.outcomes}. In order:
     * inspect every head under one source lock; skip those pinned, unmovable or in flight; take target blocks
     * zone by zone, one lock each; freeze, copy and publish each block; free the old blocks under one source lock.
     * The caller holds no zone lock; this never holds two.
     */
    void moveBatch(Zone src, Batch b, Zone[] targets, Progress progress) {
        int candidates = inspect(src, b, progress);
        takeTargets(b, targets, candidates);
        copyAndFree(src, b, progress);
    }

    /**
     * Reads the blocks at heads {@code b.heads[0 .. b.size)} of {@code src} (their slots, runs and entry states,
     * under one source lock) and sets the outcome of every block that cannot move now; the others are candidates
     * (outcome null).
     *
     * @return the number of candidates
     */
    private int inspect(Zone src, Batch b, Progress progress) {
        int n = b.size;
        src.lock.lock();
        try {
            for (int i = 0; i < n; i++) {
                int page = b.heads[i];
                b.dst[i] = null;
                if (!src.isUsedHeadLocked(page)) {
                    b.outcomes[i] = Outcome.BUSY;
                } else {
                    b.outcomes[i] = null; // a candidate
                    b.slots[i] = src.ownerLocked(page);
                    b.runs[i] = src.runPagesLocked(page);
                    // The entry's state while the page map cannot change: the allocation the run belongs to.
                    b.states[i] = HandleTable.lvState(table.chunkOfSlot(b.slots[i]),
                            HandleLayout.baseOfSlot(b.slots[i]));
                }
            }
        } finally {
            src.lock.unlock();
        }
        int candidates = 0;
        for (int i = 0; i < n; i++) {
            if (b.outcomes[i] != null) {
                continue;
            }
            long[] c = table.chunkOfSlot(b.slots[i]);
            int base = HandleLayout.baseOfSlot(b.slots[i]);
            long s = HandleTable.lvState(c, base);
            long flags = HandleTable.lpFlags(c, base);
            if ((s & (FREE | MOVING)) != 0
                    || ((s ^ b.states[i]) & HandleLayout.VALIDATE_MASK) != 0
                    || HandleTable.lpLocation(c, base) != src.location(b.heads[i])
                    || HandleTable.lvState(c, base) != s) {
                // Being published, freed (a FREE slot held by a thread cache with its block, too), or moved by
                // another mover; or the flags just read may belong to another allocation; or freed and replaced
                // since the run was read: the slot and the block taken again (both LIFO) by an allocation of
                // another run length, which a move with the old run would copy past its target's end.
                b.outcomes[i] = Outcome.BUSY;
            } else if ((flags & AllocFlags.HOTREMOVABLE) == 0) {
                b.outcomes[i] = Outcome.UNMOVABLE;
            } else if (HandleLayout.pinsOf(s) != 0 && !waitUnpinned(c, base)) {
                progress.pinnedSince.putIfAbsent(b.slots[i], System.nanoTime());
                b.outcomes[i] = Outcome.PINNED;
            } else {
                b.states[i] = s;
                candidates++;
            }
        }
        return candidates;
    }

    /**
     * Compaction's batch: moves the blocks at heads {@code b.heads[0 .. b.size)} of {@code z} to free blocks
     * higher in {@code z} itself ({@link Zone#allocateRunAboveLocked}), by the same inspect, freeze, copy, publish
     * and free as {@link #moveBatch}. A block with no free block above it that holds its run gets NO_MEMORY.
     *
     * @return the lowest page a block of this batch was moved to, or {@link Integer#MAX_VALUE}
     */
    int compactBatch(Zone z, Batch b, Progress progress, int maxLooks) {
        int candidates = inspect(z, b, progress);
        int lowest = Integer.MAX_VALUE;
        if (candidates > 0) {
            z.lock.lock();
            try {
                for (int i = 0; i < b.size; i++) {
                    if (b.outcomes[i] == null) {
                        int dp = z.allocateRunAboveLocked(b.runs[i], b.slots[i], b.heads[i] + b.runs[i], maxLooks);
                        if (dp != Zone.NIL) {
                            b.dst[i] = z;
                            b.dstPages[i] = dp;
                            lowest = Math.min(lowest, dp);
                        }
                    }
                }
            } finally {
                z.lock.unlock();
            }
        }
        copyAndFree(z, b, progress);
        return lowest;
    }

    /** Takes a target block for each candidate, zone by zone in order, one lock each. */
    private void takeTargets(Batch b, Zone[] targets, int candidates) {
        int n = b.size;
        // Target blocks first, so that each freeze lasts no longer than its copy.
        for (int t = 0; t < targets.length && candidates > 0; t++) {
            Zone z = targets[t];
            z.lock.lock();
            try {
                for (int i = 0; i < n && candidates > 0; i++) {
                    if (b.outcomes[i] == null && b.dst[i] == null) {
                        int dp = z.allocateRunLocked(b.runs[i], b.slots[i], true);
                        if (dp != Zone.NIL) {
                            b.dst[i] = z;
                            b.dstPages[i] = dp;
                            candidates--;
                        }
                    }
                }
            } finally {
                z.lock.unlock();
            }
        }
    }

    /** Moves each candidate with a target (NO_MEMORY for the others) and frees the old blocks under one lock. */
    private void copyAndFree(Zone src, Batch b, Progress progress) {
        int n = b.size;
        int freeCount = 0;
        for (int i = 0; i < n; i++) {
            if (b.outcomes[i] != null) {
                continue;
            }
            if (b.dst[i] == null) {
                b.outcomes[i] = Outcome.NO_MEMORY;
                continue;
            }
            b.outcomes[i] = copyFrozen(src, b.heads[i], b.slots[i], b.states[i], b.runs[i], b.dst[i],
                    b.dstPages[i], progress);
            if (b.outcomes[i] == Outcome.MOVED) {
                b.toFree[freeCount++] = b.heads[i];
            } else {
                b.dst[i].free(b.dstPages[i]);
            }
        }
        if (freeCount > 0) {
            src.lock.lock();
            try {
                src.freeAllLocked(b.toFree, 0, freeCount); // the resident free limit once for the batch
            } finally {
                src.lock.unlock();
            }
        }
    }

    /**
     * Freezes the entry in {@code slot}, copies its block from {@code (src, page)} to {@code (dst, dstPage)},
     * publishes the new location and unfreezes with version + 1. The old block is the caller's to free.
     */
    private Outcome copyFrozen(Zone src, int page, int slot, long inspected, int runPages, Zone dst, int dstPage,
                               Progress progress) {
        long[] c = table.chunkOfSlot(slot);
        int base = HandleLayout.baseOfSlot(slot);
        long expectedLocation = src.location(page);
        long frozen = HandleProtocol.freeze(c, base, HandleLayout.genOfState(inspected), FREEZE_ATTEMPTS);
        if (frozen == -1L || HandleTable.lpLocation(c, base) != expectedLocation) {
            if (frozen != -1L) {
                HandleProtocol.unfreeze(c, base, frozen);
            }
            long now = HandleTable.lvState(c, base);
            if ((now & (FREE | MOVING)) == 0 && HandleLayout.pinsOf(now) != 0) {
                progress.pinnedSince.putIfAbsent(slot, System.nanoTime());
                return Outcome.PINNED;
            }
            return Outcome.BUSY;
        }
        // Frozen: pins == 0 and no pin, free or other move can start; the old copy does not change.
        try {
            MemorySegment.copy(src.memory, src.byteOffset(page), dst.memory, dst.byteOffset(dstPage),
                    HandleTable.lpSize(c, base));
        } catch (RuntimeException | Error e) {
            // Only a close() racing an unlocked move (pinLongTerm) gets here; never leave the entry frozen.
            HandleProtocol.unfreeze(c, base, frozen);
            throw e;
        }
        HandleProtocol.publishMove(c, base, frozen, dst.location(dstPage));
        progress.pinnedSince.remove(slot);
        progress.moved++;
        progress.movedBytes += (long) runPages << src.pageShift;
        return Outcome.MOVED;
    }

    /** Spins briefly for a transient pin to go. */
    private static boolean waitUnpinned(long[] c, int base) {
        for (int i = 0; i < FREEZE_ATTEMPTS; i++) {
            Thread.onSpinWait();
            if (HandleLayout.pinsOf(HandleTable.lvState(c, base)) == 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * Moves every movable block out of {@code sources} into {@code targets}: a first pass that skips blocks
     * pinned for longer than a few spins, then passes with backoff (1 ms doubling to 50 ms) until nothing is left
     * to try or {@code deadlineNanos} passes. Blocks that can never move (UNMOVABLE, or NO_MEMORY with no target
     * zone at all) end it at once. Stops at the next batch when the thread is interrupted (the flag
     * stays set) or the allocator is being closed (the caller then throws); a backoff wakes at once for a close. Every move is atomic: what moved stays moved, the rest stays valid where it was. After a pass
     * that found no room, {@code reclaim} is asked to give back free blocks of the targets held elsewhere (thread
     * caches); when it gives some, the next pass starts at once.
     */
    RelocationReport relocate(String operation, List<Zone> sources, Zone[] targets, long startNanos,
                              long deadlineNanos, Consumer<RelocationProgress> listener, LongSupplier reclaim) {
        Progress progress = new Progress();
        long totalBytes = 0;
        for (Zone z : sources) {
            z.lock.lock();
            try {
                totalBytes += z.snapshotLocked(0).activePages() << z.pageShift;
            } finally {
                z.lock.unlock();
            }
        }
        long lastReport = System.nanoTime();
        Batch batch = new Batch();
        FailureReason stop = null;
        int[] last = new int[Outcome.values().length];
        List<int[]> pinned = new ArrayList<>();
        long backoff = 1_000_000L;
        for (int pass = 0; ; pass++) {
            int[] counts = new int[Outcome.values().length];
            pinned.clear();
            outer:
            for (Zone z : sources) {
                int page = 0;
                while (page != Zone.NIL) {
                    if (Thread.currentThread().isInterrupted() || ctx.isClosed()) {
                        stop = FailureReason.INTERRUPTED;
                        break outer;
                    }
                    // Collect up to BATCH used heads from the cursor under one lock.
                    batch.size = 0;
                    z.lock.lock();
                    try {
                        int head = z.isPluggedLocked() ? z.nextUsedHeadLocked(page) : Zone.NIL;
                        while (head != Zone.NIL && batch.size < BATCH) {
                            batch.heads[batch.size++] = head;
                            head = z.nextUsedHeadLocked(head + z.runPagesLocked(head));
                        }
                        page = head;
                    } finally {
                        z.lock.unlock();
                    }
                    if (batch.size == 0) {
                        break;
                    }
                    moveBatch(z, batch, targets, progress);
                    for (int i = 0; i < batch.size; i++) {
                        counts[batch.outcomes[i].ordinal()]++;
                    }
                    if (System.nanoTime() - lastReport >= PROGRESS_INTERVAL_NANOS) {
                        listener.accept(new RelocationProgress(operation, pass, progress.moved,
                                progress.movedBytes, totalBytes));
                        lastReport = System.nanoTime();
                    }
                }
            }
            listener.accept(new RelocationProgress(operation, pass, progress.moved, progress.movedBytes, totalBytes));
            lastReport = System.nanoTime();
            last = counts;
            if (stop != null) {
                break;
            }
            // NO_MEMORY is worth retrying only while some target zone exists (frees may make room there); the
            // caller holds the control lock, so no node can be enabled to add one during this relocation.
            int retryable = counts[Outcome.PINNED.ordinal()] + counts[Outcome.BUSY.ordinal()]
                    + (targets.length > 0 ? counts[Outcome.NO_MEMORY.ordinal()] : 0);
            if (retryable == 0) {
                break;
            }
            long now = System.nanoTime();
            if (now - deadlineNanos >= 0) {
                stop = FailureReason.TIMED_OUT;
                break;
            }
            if (counts[Outcome.NO_MEMORY.ordinal()] > 0 && reclaim.getAsLong() > 0) {
                continue;
            }
            try {
                if (ctx.awaitClose(Math.min(backoff, deadlineNanos - now))) {
                    stop = FailureReason.INTERRUPTED; // closing: the caller throws
                    break;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stop = FailureReason.INTERRUPTED;
                break;
            }
            backoff = Math.min(backoff * 2, MAX_BACKOFF_NANOS);
        }
        long remaining = Zone.liveBlocks(sources);
        Map<FailureReason, Integer> failures = new EnumMap<>(FailureReason.class);
        List<RelocationReport.Straggler> stragglers = new ArrayList<>();
        if (remaining > 0) {
            putIfPositive(failures, FailureReason.PINNED, last[Outcome.PINNED.ordinal()]);
            putIfPositive(failures, FailureReason.NO_MEMORY, last[Outcome.NO_MEMORY.ordinal()]);
            putIfPositive(failures, FailureReason.UNMOVABLE, last[Outcome.UNMOVABLE.ordinal()]);
            if (stop != null) {
                failures.put(stop, 1);
            }
            stragglers.addAll(stragglers(ctx, progress));
        }
        return new RelocationReport(operation, remaining == 0, progress.moved, progress.movedBytes, remaining,
                stragglers, failures, Duration.ofNanos(System.nanoTime() - startNanos));
    }

    /**
     * @return the blocks {@code progress} found pinned that are still pinned, with how long they have been seen so
     *         and the site of a tracked pin of each
     */
    static List<RelocationReport.Straggler> stragglers(AllocatorContext ctx, Progress progress) {
        List<RelocationReport.Straggler> out = new ArrayList<>();
        if (progress.pinnedSince.isEmpty()) {
            return out;
        }
        HandleTable table = ctx.table;
        Map<Long, String> sites = ctx.leaks.pinSites();
        long now = System.nanoTime();
        for (var e : progress.pinnedSince.entrySet()) {
            int slot = e.getKey();
            long s = HandleTable.lvState(table.chunkOfSlot(slot), HandleLayout.baseOfSlot(slot));
            if ((s & FREE) == 0 && HandleLayout.pinsOf(s) > 0) {
                long handle = HandleLayout.handle(table.tag, HandleLayout.genOfState(s), slot);
                out.add(new RelocationReport.Straggler(handle, HandleLayout.pinsOf(s),
                        Duration.ofNanos(now - e.getValue()), sites.get(handle)));
            }
        }
        return out;
    }

    static void putIfPositive(Map<FailureReason, Integer> m, FailureReason r, int n) {
        if (n > 0) {
            m.put(r, n);
        }
    }
}
