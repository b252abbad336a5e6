package io.hotmem.internal;

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

import static io.hotmem.internal.HandleTable.FREE;
import static io.hotmem.internal.HandleTable.MOVING;
import static io.hotmem.internal.HandleTable.STATE_GEN_MASK;
import static io.hotmem.internal.HandleTable.VERSION_MASK;
import static io.hotmem.internal.HandleTable.VERSION_ONE;

/**
 * Moves live blocks out of zones (Linux page migration): one block at a time with {@link #move}, and whole zones
 * in passes with {@link #relocate}. The protocol is in {@link HandleTable}; this class is its mover side.
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

    private final HandleTable table;

    Relocator(HandleTable table) {
        this.table = table;
    }

    /** Progress of one relocation, for the report. */
    static final class Progress {
        long moved;
        long movedBytes;
        /** Pin counts and first-seen times of blocks found pinned, by slot. */
        final Map<Integer, Long> pinnedSince = new HashMap<>();
    }

    /**
     * Moves the used block at head {@code page} of {@code src} into the first of {@code targets} with room.
     * The caller holds no zone lock.
     */
    Outcome move(Zone src, int page, Zone[] targets, Progress progress) {
        int slot;
        int order;
        src.lock.lock();
        try {
            if (!src.isUsedHeadLocked(page)) {
                return Outcome.BUSY;
            }
            if (!src.isMovableBlockLocked(page)) {
                return Outcome.UNMOVABLE;
            }
            slot = src.ownerLocked(page);
            order = src.orderOfLocked(page);
        } finally {
            src.lock.unlock();
        }
        long[] c = table.chunkOfSlot(slot);
        int base = HandleTable.baseOfSlot(slot);
        long expectedLocation = HandleTable.location(src.id, page);
        long s = HandleTable.lvState(c, base);
        if ((s & (FREE | MOVING)) != 0 || HandleTable.lpLocation(c, base) != expectedLocation) {
            return Outcome.BUSY; // being published, freed, or moved by another mover
        }
        if (HandleTable.pinsOf(s) != 0 && !waitUnpinned(c, base)) {
            progress.pinnedSince.putIfAbsent(slot, System.nanoTime());
            return Outcome.PINNED;
        }
        // The target block first, so the freeze lasts no longer than the copy.
        Zone dst = null;
        int dstPage = Zone.NIL;
        for (Zone t : targets) {
            t.lock.lock();
            try {
                dstPage = t.allocateLocked(order, slot, true);
            } finally {
                t.lock.unlock();
            }
            if (dstPage != Zone.NIL) {
                dst = t;
                break;
            }
        }
        if (dst == null) {
            return Outcome.NO_MEMORY;
        }
        long frozen = freeze(c, base);
        if (frozen == -1L || HandleTable.lpLocation(c, base) != expectedLocation) {
            if (frozen != -1L) {
                HandleTable.soState(c, base, frozen); // unfreeze unchanged
            }
            freeBlock(dst, dstPage);
            long now = HandleTable.lvState(c, base);
            if ((now & (FREE | MOVING)) == 0 && HandleTable.pinsOf(now) != 0) {
                progress.pinnedSince.putIfAbsent(slot, System.nanoTime());
                return Outcome.PINNED;
            }
            return Outcome.BUSY;
        }
        // Frozen: pins == 0 and no pin, free or other move can start; the old copy does not change.
        MemorySegment.copy(src.memory, src.byteOffset(page), dst.memory, dst.byteOffset(dstPage),
                HandleTable.lpSize(c, base));
        HandleTable.soLocation(c, base, HandleTable.location(dst.id, dstPage));
        HandleTable.soState(c, base, nextVersion(frozen));
        freeBlock(src, page);
        progress.pinnedSince.remove(slot);
        progress.moved++;
        progress.movedBytes += (long) 1 << (order + src.pageShift);
        return Outcome.MOVED;
    }

    /** Spins briefly for a transient pin to go. */
    private static boolean waitUnpinned(long[] c, int base) {
        for (int i = 0; i < FREEZE_ATTEMPTS; i++) {
            Thread.onSpinWait();
            if (HandleTable.pinsOf(HandleTable.lvState(c, base)) == 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * CASes the state from (live, pins == 0) to MOVING, retrying while pins come and go.
     *
     * @return the state before the freeze, or -1 if the entry is pinned, freed or moving
     */
    private static long freeze(long[] c, int base) {
        for (int i = 0; i < FREEZE_ATTEMPTS; i++) {
            long s = HandleTable.lvState(c, base);
            if ((s & (FREE | MOVING)) != 0) {
                return -1L;
            }
            if (HandleTable.pinsOf(s) == 0) {
                if (HandleTable.casState(c, base, s, s | MOVING)) {
                    return s;
                }
            } else {
                Thread.onSpinWait();
            }
        }
        return -1L;
    }

    /** The state after a completed move: same generation, version + 1, no pins, not MOVING. */
    static long nextVersion(long state) {
        return (state & STATE_GEN_MASK) | ((state & VERSION_MASK) + VERSION_ONE & VERSION_MASK);
    }

    private static void freeBlock(Zone z, int page) {
        z.lock.lock();
        try {
            z.freeLocked(page);
        } finally {
            z.lock.unlock();
        }
    }

    /**
     * Moves every movable block out of {@code sources} into {@code targets}: a first pass that skips blocks
     * pinned for longer than a few spins, then passes with backoff (1 ms doubling to 50 ms) until nothing is left
     * to try or {@code deadlineNanos} passes. Stops at the next block when the thread is interrupted (the flag
     * stays set). Every move is atomic: what moved stays moved, the rest stays valid where it was.
     */
    RelocationReport relocate(String operation, List<Zone> sources, Zone[] targets, long startNanos,
                              long deadlineNanos, Consumer<RelocationProgress> listener) {
        Progress progress = new Progress();
        long totalBytes = 0;
        for (Zone z : sources) {
            z.lock.lock();
            try {
                totalBytes += z.snapshotLocked().activePages() << z.pageShift;
            } finally {
                z.lock.unlock();
            }
        }
        long lastReport = System.nanoTime();
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
                while (true) {
                    if (Thread.currentThread().isInterrupted()) {
                        stop = FailureReason.INTERRUPTED;
                        break outer;
                    }
                    int head;
                    int order = 0;
                    z.lock.lock();
                    try {
                        head = z.isPluggedLocked() ? z.nextUsedHeadLocked(page) : Zone.NIL;
                        if (head != Zone.NIL) {
                            order = z.orderOfLocked(head);
                        }
                    } finally {
                        z.lock.unlock();
                    }
                    if (head == Zone.NIL) {
                        break;
                    }
                    Outcome o = move(z, head, targets, progress);
                    counts[o.ordinal()]++;
                    page = head + (1 << order);
                    if ((progress.moved & 63) == 0 && o == Outcome.MOVED
                            && System.nanoTime() - lastReport >= PROGRESS_INTERVAL_NANOS) {
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
            int retryable = counts[Outcome.PINNED.ordinal()] + counts[Outcome.NO_MEMORY.ordinal()]
                    + counts[Outcome.BUSY.ordinal()];
            if (retryable == 0) {
                break;
            }
            long now = System.nanoTime();
            if (now - deadlineNanos >= 0) {
                stop = FailureReason.TIMED_OUT;
                break;
            }
            try {
                long nap = Math.min(backoff, deadlineNanos - now);
                Thread.sleep(nap / 1_000_000L, (int) (nap % 1_000_000L));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stop = FailureReason.INTERRUPTED;
                break;
            }
            backoff = Math.min(backoff * 2, MAX_BACKOFF_NANOS);
        }
        long remaining = 0;
        for (Zone z : sources) {
            z.lock.lock();
            try {
                remaining += z.liveBlocksLocked();
            } finally {
                z.lock.unlock();
            }
        }
        Map<FailureReason, Integer> failures = new EnumMap<>(FailureReason.class);
        List<RelocationReport.Straggler> stragglers = new ArrayList<>();
        if (remaining > 0) {
            putIfPositive(failures, FailureReason.PINNED, last[Outcome.PINNED.ordinal()]);
            putIfPositive(failures, FailureReason.NO_MEMORY, last[Outcome.NO_MEMORY.ordinal()]);
            putIfPositive(failures, FailureReason.UNMOVABLE, last[Outcome.UNMOVABLE.ordinal()]);
            if (stop != null) {
                failures.put(stop, 1);
            }
            long now = System.nanoTime();
            for (var e : progress.pinnedSince.entrySet()) {
                int slot = e.getKey();
                long[] c = table.chunkOfSlot(slot);
                long s = HandleTable.lvState(c, HandleTable.baseOfSlot(slot));
                if ((s & FREE) == 0 && HandleTable.pinsOf(s) > 0) {
                    stragglers.add(new RelocationReport.Straggler(
                            HandleTable.handle(table.tag, HandleTable.genOfState(s), slot), HandleTable.pinsOf(s),
                            Duration.ofNanos(now - e.getValue())));
                }
            }
        }
        return new RelocationReport(operation, remaining == 0, progress.moved, progress.movedBytes, remaining,
                stragglers, failures, Duration.ofNanos(System.nanoTime() - startNanos));
    }

    private static void putIfPositive(Map<FailureReason, Integer> m, FailureReason r, int n) {
        if (n > 0) {
            m.put(r, n);
        }
    }
}
