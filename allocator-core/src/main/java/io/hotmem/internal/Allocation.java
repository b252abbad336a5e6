package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.PageAllocator;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * The allocation paths: allocate and free, fast (through the calling thread's {@link ThreadCache}) and slow
 * (under zone locks), the retry after reclaiming cached blocks, and the failure report.
 *
 * <p>Allocate: validate; read the zonelists (lock-free, from the published {@link Topology}); for a small block,
 * take it and a handle slot from the thread's cache of the first zone in the list (no zone or table lock);
 * otherwise, or when the cache cannot serve, take a slot and try each zone under its lock. Either way the block
 * is zeroed (with {@link AllocFlags#ZERO}) before {@link HandleProtocol#publish} makes the handle valid: a block
 * nobody can name yet is invisible to movers (its slot is FREE) and to unplug (its zone counts it live).
 *
 * <p>When no zone serves, the cached blocks of the zones that could serve it are reclaimed and the zones tried
 * again, up to three times (as Linux drains its per-CPU lists before it fails an allocation); an allocation that
 * no zone of its list could serve even then (no zone, or too small, or not enough free and cached pages) takes
 * nothing back from other threads. Then a zone with enough free pages but no free block of the order is compacted
 * until it has one ({@link Compactor#compactFor}, direct compaction), and last the elastic governor may bring a
 * node online.
 *
 * <p>Free: {@link HandleProtocol#free} makes the slot the caller's; then the block and slot go to the thread's
 * cache, or back to the zone and the table.
 *
 * <p>Closed: neither fast path checks it. Once {@code close()} has returned, every thread cache is detached and
 * every zone unplugged, so an allocation reaches the slow path's check and a free meets an unplugged zone; the
 * facade reports both as the allocator being closed. A call racing close may still complete before it.
 */
final class Allocation {
    private static final Zone[] NO_ZONES = new Zone[0];
    /** Rounds of reclaim and retry before an allocation fails. */
    private static final int RECLAIM_RETRIES = 3;

    private final AllocatorContext ctx;
    private final HandleTable table;
    private final CacheRegistry registry;
    private final Telemetry telemetry;
    private final int cacheClasses;
    /** Runs of 1 .. fastRuns pages take the fast path's thread cache test: those with a size class of their own. */
    private final long fastRuns;
    /** The flags the fast path serves (ALIGNED changes the run, unknown bits throw: both go the other way). */
    private static final int FAST_FLAGS = AllocFlags.ALL & ~AllocFlags.ALIGNED;
    private final long maxBlockBytes;
    private final int pageShift;

    /** Asked before an allocation fails: may bring a node online (the elastic governor). */
    interface Growth {
        /** @return whether a node that could serve a block of {@code order} with {@code flags} came online */
        boolean grow(int flags, int order, int preferredNode);
    }

    /** Tries of {@link Growth} per allocation (another thread may take the new node's memory first). */
    private static final int GROW_RETRIES = 2;

    private final Growth grow;
    private final Compactor compactor;
    private final LeakDetector leaks;

    Allocation(AllocatorContext ctx, CacheRegistry registry, Telemetry telemetry, Growth grow, Compactor compactor) {
        this.ctx = ctx;
        this.grow = grow;
        this.compactor = compactor;
        this.leaks = ctx.leaks;
        this.table = ctx.table;
        this.registry = registry;
        this.telemetry = telemetry;
        this.cacheClasses = ThreadCache.classCount(registry.cacheOrders);
        this.fastRuns = Math.min(ThreadCache.EXACT_CLASS_PAGES, cacheClasses);
        this.maxBlockBytes = ctx.maxBlockBytes;
        this.pageShift = ctx.pageShift;
    }


    /**
     * @param preferredNode a node id, or -1 for the default node
     * @param orThrow       throw {@link AllocationFailedException} rather than return {@link
     *                      PageAllocator#NULL_HANDLE}
     */
    long allocate(long bytes, int flags, int preferredNode, boolean orThrow) {
        Zonelists zl = ctx.topology.zonelists;
        int preferred = preferredNode < 0 ? zl.defaultNode : preferredNode;
        long runIndex = (bytes - 1) >>> pageShift; // the run's pages - 1, its size class; huge for bytes <= 0
        Thread t = Thread.currentThread();
        ThreadCache tc = registry.indexed(t);
        // Every condition of the fast path in one test (non-short-circuit &, so one branch for them all): a
        // size of 1 .. fastRuns pages (a size class of its own; bytes <= 0 give a huge runIndex), no flag but
        // HOTREMOVABLE, ZERO and THISNODE, a known node (an unsigned compare: the default node is -1 when none is
        // ENABLED), and the calling thread's cache at its place in the index. Each branch of a compiled method ends
        // in an uncommon trap of its own, about 60 bytes each: with one branch per test the compiled method grew past
        // InlineSmallCode (2,500 bytes) and was called, not inlined, from every caller (a call per allocation).
        if ((runIndex < fastRuns) & ((flags & ~FAST_FLAGS) == 0)
                & (Integer.compareUnsigned(preferred, zl.nodeCount) < 0) & (tc.owner == t)) {
            if (--tc.leakCountdown > 0) {
                long h = tc.allocate(zl, preferred, flags, (int) runIndex, bytes);
                if (h != PageAllocator.NULL_HANDLE) {
                    return h;
                }
            }
            return allocateMissed(bytes, flags, preferredNode, orThrow);
        }
        return allocateOther(bytes, flags, preferredNode, orThrow);
    }

    /**
     * An allocation the fast path's test did not let through, out of line: checks the arguments (a bad one throws
     * here), then tries the calling thread's cache for the other sizes it keeps, then the slow path.
     */
    private long allocateOther(long bytes, int flags, int preferredNode, boolean orThrow) {
        int order = orderFor(bytes);
        checkFlags(flags);
        Zonelists zl = ctx.topology.zonelists;
        int preferred = preferredNode < 0 ? zl.defaultNode : preferredNode;
        if (preferred >= zl.nodeCount) {
            throw unknownNode(preferred, zl.nodeCount);
        }
        int c = ThreadCache.classOf(runPages(bytes, flags, order), cacheClasses);
        ThreadCache tc = c >= 0 && preferred >= 0 ? registry.cache() : null;
        if (tc != null) {
            if (--tc.leakCountdown <= 0) {
                return countdownRanOut(zl, preferred, tc, c, bytes, order, flags, preferredNode, orThrow);
            }
            long h = tc.allocate(zl, preferred, flags, c, bytes);
            return h != PageAllocator.NULL_HANDLE ? h : allocateSlow(zl, preferred, bytes, order, flags,
                    preferredNode, orThrow);
        }
        if (leaks.sample()) {
            return allocateTracked(zl, preferred, null, c, bytes, order, flags, preferredNode, orThrow);
        }
        return allocateSlow(zl, preferred, bytes, order, flags, preferredNode, orThrow);
    }

    /**
     * An allocation the fast path let through but did not serve, out of line (one call, whatever the reason, with
     * few live values, so that the fast path's compiled code stays small at every leak detection level): the thread
     * cache missed, or its leak countdown ran out. The arguments were checked.
     */
    private long allocateMissed(long bytes, int flags, int preferredNode, boolean orThrow) {
        int order = blockOrder(bytes);
        Zonelists zl = ctx.topology.zonelists;
        int preferred = preferredNode < 0 ? zl.defaultNode : preferredNode;
        if (preferred >= zl.nodeCount) {
            throw unknownNode(preferred, zl.nodeCount); // the zonelists changed meanwhile (nodes are never removed)
        }
        int c = ThreadCache.classOf(runPages(bytes, flags, order), cacheClasses);
        ThreadCache tc = c >= 0 && preferred >= 0 ? registry.cache() : null;
        if (tc != null && tc.leakCountdown <= 0) {
            return countdownRanOut(zl, preferred, tc, c, bytes, order, flags, preferredNode, orThrow);
        }
        if (tc == null && leaks.sample()) {
            // No cache now (every node disabled meanwhile, say): sampled as an allocation without one.
            return allocateTracked(zl, preferred, null, c, bytes, order, flags, preferredNode, orThrow);
        }
        return allocateSlow(zl, preferred, bytes, order, flags, preferredNode, orThrow);
    }

    /**
     * The thread cache's leak countdown ran out (one allocation in {@link io.hotmem.LeakDetection#SAMPLING_INTERVAL}
     * at SAMPLED, every one at PARANOID, once in 2^31 at DISABLED): all of it out of line, so that the fast path's
     * compiled code is the same whatever the level.
     */
    private long countdownRanOut(Zonelists zl, int preferred, ThreadCache tc, int c, long bytes, int order,
                                 int flags, int preferredNode, boolean orThrow) {
        tc.leakCountdown = leaks.countdown();
        if (leaks.on()) {
            return allocateTracked(zl, preferred, tc, c, bytes, order, flags, preferredNode, orThrow);
        }
        long h = tc.allocate(zl, preferred, flags, c, bytes);
        return h != PageAllocator.NULL_HANDLE ? h : allocateSlow(zl, preferred, bytes, order, flags, preferredNode,
                orThrow);
    }

    /**
     * An allocation that leak detection tracks: its site is taken first, its flags carry
     * {@link HandleLayout#FLAG_TRACKED} from its publication, and it is recorded once published ({@link
     * LeakDetector#track}).
     *
     * @param tc the calling thread's cache, or null
     */
    private long allocateTracked(Zonelists zl, int preferred, ThreadCache tc, int c, long bytes, int order,
                                 int flags, int preferredNode, boolean orThrow) {
        Throwable site = LeakDetector.site();
        int tracked = flags | HandleLayout.FLAG_TRACKED;
        long h = tc == null ? PageAllocator.NULL_HANDLE : tc.allocate(zl, preferred, tracked, c, bytes);
        if (h == PageAllocator.NULL_HANDLE) {
            h = allocateSlow(zl, preferred, bytes, order, tracked, preferredNode, orThrow);
        }
        if (h != PageAllocator.NULL_HANDLE) {
            leaks.track(h, bytes, site, table);
        }
        return h;
    }

    /**
     * @return the pages an allocation of {@code bytes} with {@code flags} holds: the whole block of {@code order}
     *         with {@link AllocFlags#ALIGNED}, otherwise exactly the pages the bytes need
     */
    private int runPages(long bytes, long flags, int order) {
        return (flags & AllocFlags.ALIGNED) != 0 ? 1 << order : (int) ((bytes - 1) >>> pageShift) + 1;
    }

    /** Allocation under zone locks: no cache, or the cache could not serve. */
    private long allocateSlow(Zonelists zl, int preferred, long bytes, int order, int flags, int preferredNode,
                              boolean orThrow) {
        Zone[] list = preferred < 0 ? NO_ZONES : zl.get(preferred, flags);
        boolean movable = (flags & AllocFlags.HOTREMOVABLE) != 0;
        int run = runPages(bytes, flags, order);
        long h = allocateFromZones(list, run, bytes, flags, movable);
        for (int retry = 0; retry < RECLAIM_RETRIES && h == PageAllocator.NULL_HANDLE
                && reclaimFor(list, order) > 0; retry++) {
            // Other threads may refill their caches meanwhile, hence a few tries.
            h = allocateFromZones(list, run, bytes, flags, movable);
        }
        if (h == PageAllocator.NULL_HANDLE && compactor.compactFor(list, order)) {
            // Direct compaction formed a free block of the order somewhere in the list.
            h = allocateFromZones(list, run, bytes, flags, movable);
        }
        for (int g = 0; g < GROW_RETRIES && h == PageAllocator.NULL_HANDLE && grow.grow(flags, order, preferred); g++) {
            // The governor plugged and enabled a node: the zonelists are new, and so may be the default node
            // (there was none when no node was ENABLED).
            zl = ctx.topology.zonelists;
            if (preferredNode < 0) {
                preferred = zl.defaultNode;
            }
            if (preferred < 0 || preferred >= zl.nodeCount) {
                break;
            }
            list = zl.get(preferred, flags);
            h = allocateFromZones(list, run, bytes, flags, movable);
        }
        if (h != PageAllocator.NULL_HANDLE) {
            return h;
        }
        ctx.checkOpen(); // a closed allocator's empty zonelists are not a lack of memory
        String reason = table.freeSlotsInTable() == 0
                ? "the handle table is full (" + HandleLayout.MAX_SLOTS + " live allocations)" : null;
        return failed(orThrow, bytes, order, flags, preferredNode, list, reason);
    }

    /**
     * Reclaims thread-cached blocks of the zones of {@code list} where that could let a block of {@code order}
     * form: the zone is large enough, and its free plus cached pages reach the block.
     *
     * @return the pages reclaimed (0 when no zone qualified)
     */
    private long reclaimFor(Zone[] list, int order) {
        List<Zone> worth = new ArrayList<>(list.length);
        long block = 1L << order;
        for (Zone z : list) {
            long cached;
            if (z.pages >= block && (cached = registry.cachedPages(z.id)) > 0 && z.freePages() + cached >= block) {
                worth.add(z);
            }
        }
        return worth.isEmpty() ? 0 : registry.reclaim(worth.toArray(NO_ZONES));
    }

    /**
     * @return the new handle, or {@link PageAllocator#NULL_HANDLE} when no zone of {@code list} has a block or no
     *         slot is free
     */
    private long allocateFromZones(Zone[] list, int runPages, long bytes, int flags, boolean movable) {
        int slot = table.acquireSlot();
        if (slot < 0) {
            return PageAllocator.NULL_HANDLE;
        }
        for (Zone z : list) {
            int page;
            MemorySegment zoneMemory;
            z.lockForAllocation();
            try {
                page = z.allocateRunLocked(runPages, slot, movable);
                zoneMemory = z.memory;
            } finally {
                z.lock.unlock();
            }
            if (page != Zone.NIL) {
                if ((flags & AllocFlags.ZERO) != 0) {
                    try {
                        zoneMemory.asSlice(z.byteOffset(page), bytes).fill((byte) 0);
                    } catch (IllegalStateException e) {
                        // Only close() unplugs a zone with a live block (this one): nothing is left to give back.
                        throw ctx.closedOr(e);
                    }
                }
                return HandleProtocol.publish(table, slot, z.location(page), bytes, flags);
            }
        }
        table.releaseSlot(slot);
        return PageAllocator.NULL_HANDLE;
    }

    private long failed(boolean orThrow, long bytes, int order, int flags, int preferredNode, Zone[] tried,
                        String reason) {
        flags &= AllocFlags.ALL; // not FLAG_TRACKED
        telemetry.allocationFailed(bytes, flags, preferredNode,
                reason != null ? reason : tried.length == 0 ? "no zone may serve it" : "no free block");
        if (!orThrow) {
            return PageAllocator.NULL_HANDLE;
        }
        StringBuilder sb = new StringBuilder("cannot allocate ").append(bytes).append(" bytes (order ")
                .append(order).append(", ").append((long) ctx.pageSize << order).append("-byte block) with flags ")
                .append(AllocFlags.toString(flags)).append(preferredNode < 0 ? " from the default node"
                        : " preferring node " + preferredNode).append(": ");
        if (reason != null) {
            sb.append(reason);
        } else if (tried.length == 0) {
            sb.append("no ENABLED node has a zone that may serve it");
        } else {
            StringJoiner j = new StringJoiner(", ", "tried ", "");
            for (Zone z : tried) {
                j.add(z.label() + " free " + z.freePages() + " pages");
            }
            sb.append(j);
        }
        long limit = ctx.capacityLimit;
        if (limit != Long.MAX_VALUE) {
            long plugged = ctx.topology.pluggedBytes();
            sb.append("; the capacity limit of ").append(limit).append(" bytes keeps plugged memory at ")
                    .append(plugged).append(" bytes");
        }
        throw new AllocationFailedException(sb.toString());
    }

    /**
     * Frees {@code handle}: {@link HandleProtocol#free} makes the slot the caller's, then the block and the slot are
     * given back. At DISABLED and SAMPLED that is all (a tracked allocation's record stays until the leak detector
     * sweeps it: see {@link LeakDetector}); PARANOID frees out of line ({@link #freeParanoid}).
     */
    void free(long handle) {
        if (leaks.paranoid) {
            freeParanoid(handle);
            return;
        }
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long s = HandleTable.lvState(c, base);
        // Read before the CAS, so that these loads do not wait for it; tryFree says when they hold.
        long loc = HandleTable.lpLocation(c, base);
        long flags = HandleTable.lpFlags(c, base);
        long size = HandleTable.lpSize(c, base);
        if (!HandleProtocol.tryFree(c, base, handle, s)) {
            HandleProtocol.freeContended(c, base, handle);
            loc = HandleTable.lpLocation(c, base); // FREE now and ours: stable
            flags = HandleTable.lpFlags(c, base);
            size = HandleTable.lpSize(c, base);
        } else if (HandleTable.lpLocation(c, base) != loc) {
            // Only if 2^18 moves of the block wrapped its version while this thread stood between the load and the
            // CAS (tryFree's limit): the location read after the CAS, stable now, is the block's. A never-taken
            // branch: the code after it runs on the early read, not waiting for this load.
            loc = HandleTable.lpLocation(c, base);
        }
        giveBack(handle, loc, flags, size);
    }

    /**
     * PARANOID free: the scope of the allocation's segments is closed once before the free, from a state the free
     * accepts (a scope held by an operation fails the free, changing nothing), and the record removed and the scope
     * closed again after it (a segment taken in between), before the block is given back (see {@link
     * LeakDetector}). If an operation (blocking I/O) holds that second scope, the block and slot are given back only
     * once it ends ({@link LeakDetector#untrack}): until then the slot is FREE with its block still taken, as a
     * thread cache holds its pairs (a mover finds it busy).
     */
    private void freeParanoid(long handle) {
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        // Only from a state the free accepts (a pinned one is refused here, changing nothing; a move is waited
        // for), so that no free succeeds without this close. A pin that comes between here and the free's CAS
        // (the program frees what another thread uses) may still find the segments closed.
        HandleProtocol.awaitFreeable(c, base, handle);
        leaks.beforeFree(handle);
        HandleProtocol.free(c, base, handle);
        // No mover can freeze a FREE entry, so the location, size and flags are stable.
        long loc = HandleTable.lpLocation(c, base);
        long flags = HandleTable.lpFlags(c, base);
        long size = HandleTable.lpSize(c, base);
        if ((flags & HandleLayout.FLAG_TRACKED) != 0) {
            // If an operation holds a segment of the block, it is counted as held by it, and given back once that
            // ends, on another thread: to the zone and the table, not to that thread's cache (which it would make
            // for this allocator).
            Zone z = ctx.topology.zones[HandleLayout.zoneOfLocation(loc)];
            if (!leaks.untrack(handle, z::holdForOperation, () -> {
                z.freeHeld(z.pageOf(loc));
                table.releaseSlot(HandleLayout.slotOf(handle));
            })) {
                return;
            }
        }
        giveBack(handle, loc, flags, size);
    }

    /**
     * After the free made the slot ours: the block and the slot go to the thread's cache, or to the zone and table.
     * {@code loc}, {@code flags} and {@code size} are the freed entry's.
     */
    private void giveBack(long handle, long loc, long flags, long size) {
        Zone z = ctx.topology.zones[HandleLayout.zoneOfLocation(loc)];
        int slot = HandleLayout.slotOf(handle);
        long runIndex = (size - 1) >>> pageShift;
        Thread t = Thread.currentThread();
        ThreadCache tc = registry.indexed(t);
        // As allocate's fast path: one test for a run with a size class of its own and the caller's own cache.
        if ((runIndex < fastRuns) & ((flags & AllocFlags.ALIGNED) == 0) & (tc.owner == t)) {
            if (!tc.free(z, (int) runIndex, slot)) {
                giveBackToZone(z, loc, slot);
            }
            return;
        }
        giveBackOther(z, loc, slot, size, flags);
    }

    /** {@link #giveBack} of the other sizes, or without the cache at its place in the index: out of line. */
    private void giveBackOther(Zone z, long loc, int slot, long size, long flags) {
        int cls = ThreadCache.classOf(runPages(size, flags, blockOrder(size)), cacheClasses);
        ThreadCache tc = cls >= 0 ? registry.cache() : null;
        if (tc == null || !tc.free(z, cls, slot)) {
            giveBackToZone(z, loc, slot);
        }
    }

    private void giveBackToZone(Zone z, long loc, int slot) {
        z.free(z.pageOf(loc));
        table.releaseSlot(slot);
    }

    // ------------------------------------------------------------------------------------------------ checks

    private int orderFor(long bytes) {
        if (bytes <= 0 || bytes > maxBlockBytes) {
            throw badSize(bytes);
        }
        return blockOrder(bytes);
    }

    /**
     * @return the order of the buddy block an allocation of {@code bytes} with {@code flags} is cut from (its whole
     *         block with {@link AllocFlags#ALIGNED}); not for the fast paths
     */
    int runOrder(long bytes, long flags) {
        return Zone.orderOfRun(runPages(bytes, flags, blockOrder(bytes)));
    }

    /** @return the order of the smallest block that holds {@code bytes} (1 .. maxBlockBytes, not checked) */
    private int blockOrder(long bytes) {
        return 64 - Long.numberOfLeadingZeros((bytes - 1) >>> pageShift);
    }

    // Exceptions are built out of line, so the hot paths stay small enough for the JIT to inline them.
    private IllegalArgumentException badSize(long bytes) {
        return new IllegalArgumentException("size " + bytes + " out of range: must be 1.." + ctx.maxBlockBytes
                + " bytes (pageSize " + ctx.pageSize + " << maxOrder " + ctx.maxOrder + ")");
    }

    private static void checkFlags(int flags) {
        if ((flags & ~AllocFlags.ALL) != 0) {
            throw badFlags(flags);
        }
    }

    private static IllegalArgumentException badFlags(int flags) {
        return new IllegalArgumentException("unknown flag bits 0x" + Integer.toHexString(flags & ~AllocFlags.ALL)
                + " in flags " + AllocFlags.toString(flags));
    }

    static IllegalArgumentException unknownNode(int node, int count) {
        return new IllegalArgumentException("unknown node " + node + " (nodes 0.." + (count - 1) + ")");
    }
}
