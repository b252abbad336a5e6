package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.internal.prim.Membarrier;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * One thread's cache of free blocks (per zone, per size class up to a limit) and of free handle-table slots: the
 * Linux per-CPU page lists, per thread. The owning thread allocates and frees small blocks through it with no atomic
 * instruction and no lock shared with other threads; it refills and flushes in batches under the zone lock.
 *
 * <h2>Protocol: an asymmetric Dekker handshake</h2>
 * Only the owner touches the cache, except a <em>reclaimer</em> (another thread, holding the registry's reclaim
 * lock, see {@link CacheRegistry}) that takes blocks and slots back: when a zone stops accepting blocks (disable,
 * drain, remap, close), on {@code trimCaches()}, when an allocation would fail, when the agent finds the cache
 * idle, and when the owner has died. At close the reclaimer also <em>detaches</em> the cache: {@code reclaiming}
 * then stays set, so every later operation bails, and the cache drops everything it referenced, so that a
 * thread's ThreadLocal map keeps nothing of a closed allocator but this small object.
 * <pre>
 *  owner, each operation                        reclaimer
 *  S:  seq = odd          (opaque store)        reclaiming = 1          (volatile store)
 *  L:  if reclaiming != 0: seq = even; bail     membarrier()            (every running thread: full fence)
 *      if the zone does not accept: bail        wait until seq is even, or changes
 *      use the cache (blocks, slots, page map,  take the blocks and slots; return blocks to the zones
 *      zeroing a block before publishing it)
 *  S2: seq = even         (release store)       reclaiming = 0          (release store; not when detaching)
 * </pre>
 * Claim: the reclaimer never takes blocks while an operation that did not bail is in flight, and no operation that
 * starts after the reclaimer's wait touches the cache before {@code reclaiming} is 0 again. Why: the membarrier puts a
 * full fence at some point P of the owner's instruction stream. If P comes after S, the reclaimer sees {@code seq}
 * odd and waits for S2. If P comes before S, then L (after S in program order, so after P) sees
 * {@code reclaiming == 1} and bails. Everything the owner wrote before S2 happens-before the reclaimer's read of the
 * even {@code seq}; everything the reclaimer wrote happens-before the owner's acquire read of {@code reclaiming == 0}.
 *
 * <p>Assumptions, stated because the Java memory model alone does not give them: (1) Linux's
 * {@code membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)} semantics ({@link Membarrier}); (2) the JIT keeps S before L
 * in program order: both are VarHandle accesses with a memory-order mode, which HotSpot's compilers bracket with
 * CPU-order barriers, so neither moves past the other. Where membarrier is not available, S is a volatile store
 * (a full fence, about 6 ns here) and the protocol is a plain Dekker handshake, which the memory model does
 * guarantee. Tests: {@code ThreadCacheStressTest} (a thread trimming every cache while owners allocate and free
 * without pause: it fails every run when owners skip the {@code reclaiming} check, and in 3 of 4 runs when the
 * reclaimer skips the membarrier), {@code ConcurrentAllocationStressTest} (disable, drain and replug while threads
 * allocate through their caches: no block of a disabled node is handed out, none is lost or shared), and the
 * Lincheck model checks, whose threads allocate and free through their caches while zones are remapped.
 *
 * <p>A zone that stops accepting blocks first changes its {@link Zone#cacheEpoch} under the zone lock, then is
 * reclaimed from every cache: after that no cache holds or hands out its blocks (invariant 3), and what owners wrote
 * (page-map bytes and owners of blocks they handed out) is visible to a relocation that walks the zone next.
 */
final class ThreadCache {
    private static final VarHandle SEQ;
    private static final VarHandle RECLAIMING;
    /** Owners order S before L with compiler ordering only, and reclaimers run a membarrier. */
    static final boolean ASYMMETRIC = Membarrier.AVAILABLE;

    static {
        if ((AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE) >= 8) {
            throw new ExceptionInInitializerError("the zone memo key has 3 bits for the flags that pick a zonelist");
        }
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SEQ = l.findVarHandle(ThreadCache.class, "seq", int.class);
            RECLAIMING = l.findVarHandle(ThreadCache.class, "reclaiming", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Most bytes cached per zone and order (less for small zones, see {@link Zone#cachePages}, but at least 2 blocks
     * of an order where 2 fit; a larger block is not cached: see {@link #capacityFor}).
     */
    static final long BYTES_PER_ORDER = 1 << 20;
    /**
     * Runs of up to this many pages each have a size class (exact runs, see {@link Zone}); longer ones are cached
     * only as whole blocks of {@code 2^k} pages, one class per order.
     */
    static final int EXACT_CLASS_PAGES = 16;
    private static final int EXACT_CLASS_SHIFT = 4; // log2(EXACT_CLASS_PAGES)

    final Thread owner;
    /** Odd while the owner is in an operation. */
    @SuppressWarnings("unused")
    private volatile int seq;
    /** The owner's copy of {@link #seq}. */
    private int ownerSeq;
    /** Non-zero while a reclaimer works on this cache, and for ever once it is detached. */
    @SuppressWarnings("unused")
    private volatile int reclaiming;
    /** Set for good by a detaching reclaim; read and written under the registry's reclaim lock only. */
    private boolean detached;

    // Every reference below is dropped by detach(): the owner can no longer reach them (it bails), and a
    // reclaimer never looks at a detached cache again (the registry forgot it).
    private HandleTable table;
    /** Size classes kept ({@link #classCount}). */
    private final int classes;
    /**
     * Every cached block, as one flat array so that a pop is two dependent loads: for zone {@code id} and size
     * class {@code c}, the region at {@code id * perZone + classOffset[c]} holds the count, then room for
     * {@link #room} FREE handle-table slots, each still holding the location of its block (a slot and its block
     * are cached together, so reuse writes neither the page map nor the location). Grown by the owner.
     */
    private int[] stacks = new int[0];
    /** Where each class's region starts in a zone's part of {@link #stacks}; the last entry is {@link #perZone}. */
    private final int[] classOffset;
    /** {@link #capacityFor} of each class for a zone with the largest budget (most zones: a division saved). */
    private final int[] largestCapacities;
    private final int largest;
    /** Ints per zone. */
    private final int perZone;
    /** Scratch for batches of head pages (owner, or a reclaimer after the handshake). */
    private int[] pages;
    /** Scratch for the slots of a refill (owner only). */
    private int[] refillSlots;
    /** The allocation's last zone choice: valid while the zonelists object and the key are the same. */
    private Zonelists memoLists;
    private int memoKey = -1;
    private Zone memoZone;
    /**
     * Owner only: allocations through this cache until the next one leak detection tracks (reset by
     * {@link Allocation} from {@link LeakDetector#countdown}); a plain field of the owner's, so that the decision
     * costs no shared write and no random number on the fast path.
     */
    int leakCountdown;
    /** The agent's last look at {@link #operationCount}, and when it last saw it change. Agent thread only. */
    int seenOperations = -1;
    int seenAtTick;

    /**
     * The cache of no thread: what the registry's index holds where no cache is ({@link CacheRegistry#indexed}).
     * Its owner is null, so no thread takes it for its own; it holds nothing, and every operation on it would bail
     * (it is reclaiming for good).
     */
    static final ThreadCache NONE = new ThreadCache();

    private ThreadCache() {
        this.owner = null;
        this.classes = 0;
        this.classOffset = new int[1];
        this.largestCapacities = new int[0];
        this.largest = 2;
        this.perZone = 0;
        this.detached = true;
        RECLAIMING.setRelease(this, 1);
    }

    /**
     * @param orders the block orders kept: runs of up to {@code 2^(orders - 1)} pages (0: none)
     */
    ThreadCache(Thread owner, HandleTable table, int orders, int pageShift) {
        this.owner = owner;
        this.table = table;
        this.classes = classCount(orders);
        int largest = largestCapacity(pageShift);
        this.largest = largest;
        this.classOffset = new int[classes + 1];
        this.largestCapacities = new int[classes];
        for (int c = 0; c < classes; c++) {
            largestCapacities[c] = capacityFor(largest, c, largest);
            classOffset[c + 1] = classOffset[c] + 1 + largestCapacities[c];
        }
        this.perZone = classOffset[classes];
        this.pages = new int[largest];
        this.refillSlots = new int[largest];
    }

    // ------------------------------------------------------------------------------------------------ classes

    /**
     * @param orders the block orders kept, 0 .. orders - 1
     * @return the size classes: one per run length up to {@link #EXACT_CLASS_PAGES} pages (or up to the largest
     *         kept block, if smaller), then one per order above
     */
    static int classCount(int orders) {
        if (orders == 0) {
            return 0;
        }
        int largestOrder = orders - 1;
        return largestOrder <= EXACT_CLASS_SHIFT ? 1 << largestOrder
                : EXACT_CLASS_PAGES + largestOrder - EXACT_CLASS_SHIFT;
    }

    /**
     * @return the size class of a run of {@code runPages} pages (at least 1), or -1 when a cache of
     *         {@code classes} classes does not keep it (a run longer than {@link #EXACT_CLASS_PAGES} pages that is
     *         not a whole block, or longer than the largest kept)
     */
    static int classOf(int runPages, int classes) {
        int c;
        if (runPages <= EXACT_CLASS_PAGES) {
            c = runPages - 1;
        } else if ((runPages & (runPages - 1)) == 0) {
            c = EXACT_CLASS_PAGES - 1 + Integer.numberOfTrailingZeros(runPages) - EXACT_CLASS_SHIFT;
        } else {
            return -1;
        }
        return c < classes ? c : -1;
    }

    /** @return the run length of size class {@code c} */
    static int pagesOfClass(int c) {
        return c < EXACT_CLASS_PAGES ? c + 1 : 1 << (c - EXACT_CLASS_PAGES + 1 + EXACT_CLASS_SHIFT);
    }

    /**
     * @return the runs of class {@code c} kept from a zone whose cache budget is {@code cachePages} pages per
     *         order. An order with exact classes (orders 2 to 4: runs of 3 to 16 pages) splits its budget: half
     *         for its whole block, half shared by its exact runs (runs of 5 to 7 pages share order 3's), each at
     *         least 0; so the classes of one order together keep about one order's budget. A whole block is kept
     *         at least twice where two fit in {@link #BYTES_PER_ORDER} ({@code largest} pages), once where it is
     *         that size, and never where it is larger: no order keeps more than {@code BYTES_PER_ORDER}, whatever
     *         {@code threadCacheMaxOrder} says (2 blocks of order 10 would be 8 MiB). A class kept 0 times is not
     *         cached at all.
     */
    private static int capacityFor(int cachePages, int c, int largest) {
        int run = pagesOfClass(c);
        int order = Zone.orderOfRun(run);
        boolean split = order >= 2 && run <= EXACT_CLASS_PAGES;
        if (run == 1 << order) {
            int floor = run <= largest / 2 ? 2 : run <= largest ? 1 : 0;
            return Math.max(floor, cachePages / run / (split ? 2 : 1));
        }
        int exactClasses = (1 << (order - 1)) - 1;
        return cachePages / (2 * run * exactClasses);
    }

    /**
     * @return the most blocks any zone's stack of one order holds: {@link #BYTES_PER_ORDER} in pages, at least 2
     *         (a zone's own limit, {@link Zone#cachePages}, is at most this)
     */
    static int largestCapacity(int pageShift) {
        return (int) Math.max(2, BYTES_PER_ORDER >>> pageShift);
    }

    /** @return how many blocks of class {@code c} this cache keeps from {@code z} (at most the region's room) */
    private int capacityAt(Zone z, int c) {
        int budget = z.cachePages;
        return budget == largest ? largestCapacities[c] : capacityFor(budget, c, largest);
    }

    // ------------------------------------------------------------------------------------------------ owner

    /** S and L of the protocol. @return false when a reclaimer is at work: the operation must not touch the cache */
    private boolean begin() {
        int s = ++ownerSeq;
        if (ASYMMETRIC) {
            SEQ.setOpaque(this, s);
        } else {
            SEQ.setVolatile(this, s);
        }
        if ((int) RECLAIMING.getAcquire(this) != 0) {
            end();
            return false;
        }
        return true;
    }

    /** S2 of the protocol. */
    private void end() {
        SEQ.setRelease(this, ++ownerSeq);
    }

    /** @return the offset of the region of {@code (zoneId, class c)} in {@link #stacks} */
    private int offset(int zoneId, int c) {
        return zoneId * perZone + classOffset[c];
    }

    /** @return {@link #offset}, growing {@link #stacks} to hold the zone when needed */
    private int region(int zoneId, int c) {
        int at = offset(zoneId, c);
        if (at >= stacks.length) {
            stacks = Arrays.copyOf(stacks, Math.max((zoneId + 1) * perZone, 2 * stacks.length));
        }
        return at;
    }

    /** @return the memo key of an allocation's zone choice */
    private static int memoKey(int node, int flags) {
        return node << 3 | (flags & (AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE)); // below 8: HOTREMOVABLE 1, THISNODE 4
    }

    /** @return the first zone of the zonelist for {@code node} and {@code flags}, or null when it is empty */
    private static Zone firstZone(Zonelists zl, int node, int flags) {
        Zone[] list = zl.get(node, flags);
        return list.length > 0 ? list[0] : null;
    }

    /**
     * Allocates a run of size class {@code c} through this cache from the first zone of the zonelist for
     * {@code node} and {@code flags}, refilling the cache from the zone when empty; with {@link AllocFlags#ZERO}
     * the block's first {@code bytes} are zeroed before the handle is published (inside the operation, so no
     * reclaim, and so no unplug, can take the block away meanwhile; no mover touches a block whose slot is FREE).
     * Owner thread only.
     *
     * @return the new handle, or 0 when the zone does not accept blocks, has no block for the run, or a reclaimer is
     *         at work or has detached the cache (the caller takes the slow path)
     */
    long allocate(Zonelists zl, int node, int flags, int c, long bytes) {
        // The zone choice is read before the operation begins (its loads then overlap begin's store) and memoised
        // inside it, so that a detached cache never gets a reference back.
        int key = memoKey(node, flags);
        boolean memoised = (zl == memoLists) & (key == memoKey); // one branch for both
        Zone z = memoised ? memoZone : firstZone(zl, node, flags);
        if (z == null || !begin()) {
            return 0;
        }
        try {
            if (!memoised) {
                memoLists = zl;
                memoKey = key;
                memoZone = z;
                region(z.id, 0); // grows the stacks to hold the zone: a memoised zone's regions are all there
            }
            int epoch = z.cacheEpoch;
            if (!Zone.isAcceptingEpoch(epoch)) {
                return 0;
            }
            int at = offset(z.id, c);
            int[] st = stacks;
            int n = st[at];
            if (n == 0) {
                n = refill(z, at, c, epoch);
                if (n == 0) {
                    return 0;
                }
            }
            int slot = st[at + n];
            st[at] = n - 1;
            if ((flags & AllocFlags.ZERO) != 0) {
                z.memory.asSlice(z.byteOffset(z.pageOf(table.freeLocation(slot))), bytes).fill((byte) 0);
            }
            return HandleProtocol.publishCached(table, slot, bytes, flags);
        } finally {
            end();
        }
    }

    /** Takes a batch of slots from the table and as many blocks from the zone, paired. @return how many */
    private int refill(Zone z, int at, int c, int epoch) {
        int capacity = capacityAt(z, c);
        if (capacity == 0) {
            return 0; // this zone's budget keeps no run of this class
        }
        int[] st = stacks;
        int[] slots = refillSlots;
        int want = table.acquireSlots(slots, Math.max(1, capacity / 4));
        int n;
        z.lockForAllocation();
        try {
            n = z.refillCacheLocked(pagesOfClass(c), slots, pages, want, epoch);
        } finally {
            z.lock.unlock();
        }
        if (n < want) {
            table.releaseSlots(slots, n, want - n);
        }
        // The stack pops from the top: put the lowest block there (with its slot), so a zone fills from its start.
        for (int i = 0; i < n; i++) {
            int slot = slots[n - 1 - i];
            table.setFreeLocation(slot, z.location(pages[n - 1 - i]));
            st[at + 1 + i] = slot;
        }
        st[at] = n;
        return n;
    }

    /**
     * Takes a freed allocation's slot with its run of size class {@code c} (one this cache keeps) at {@code z} when
     * the zone accepts blocks. Owner thread only; the caller has set the entry FREE.
     *
     * @return whether both were taken; if not, the caller frees the block to the zone and the slot to the table
     */
    boolean free(Zone z, int c, int slot) {
        assert c >= 0 && c < classes : c;
        if (!begin()) {
            return false;
        }
        try {
            if (!Zone.isAcceptingEpoch(z.cacheEpoch)) {
                return false;
            }
            int at = region(z.id, c);
            int[] st = stacks;
            int n = st[at];
            int capacity = capacityAt(z, c);
            if (capacity == 0) {
                return false;
            }
            if (n == capacity) {
                // Full: the oldest half (bottom of the stack, at least one) spills back to the zone and the table.
                int half = Math.max(1, capacity / 2);
                spill(z, st, at + 1, half);
                System.arraycopy(st, at + 1 + half, st, at + 1, n - half);
                n -= half;
            }
            st[at + 1 + n] = slot;
            st[at] = n + 1;
            return true;
        } finally {
            end();
        }
    }

    /**
     * Returns the blocks of the cached slots {@code st[from .. from + n)} to {@code z} and the slots to the table:
     * the owner when a stack is full, the reclaimer for every stack it takes.
     */
    private void spill(Zone z, int[] st, int from, int n) {
        for (int i = 0; i < n; i++) {
            pages[i] = z.pageOf(table.freeLocation(st[from + i]));
        }
        z.lockForAllocation();
        try {
            z.freeAllLocked(pages, 0, n);
        } finally {
            z.lock.unlock();
        }
        table.releaseSlots(st, from, n);
    }

    /** @return a number that changes with every operation of the owner (the agent calls a cache idle when not) */
    int operationCount() {
        return (int) SEQ.getVolatile(this);
    }

    // ------------------------------------------------------------------------------------------------ reclaimer

    /**
     * Takes back from each of {@code caches} its blocks of {@code only} (every zone when null), with their slots;
     * returns them to their zones and the table. With {@code detach}, also leaves every cache detached: its owner
     * bails from every later operation, and the cache drops its references. The caller holds the registry's
     * reclaim lock (one reclaimer at a time) and no zone lock. Waits for each owner's operation in flight.
     *
     * @param allZones the allocator's zones by id
     * @return the pages given back
     */
    static long reclaim(ThreadCache[] caches, Zone[] allZones, Zone[] only, boolean detach) {
        if (caches.length == 0) {
            return 0;
        }
        for (ThreadCache c : caches) {
            RECLAIMING.setVolatile(c, 1);
        }
        long pages = 0;
        try {
            if (ASYMMETRIC) {
                Membarrier.run();
            }
            for (ThreadCache c : caches) {
                c.awaitQuiescent();
                pages += c.reclaimFrom(allZones, only);
                if (detach) {
                    c.dropReferences();
                }
            }
        } finally {
            for (ThreadCache c : caches) {
                if (!c.detached) { // a late reclaim of an old array must not switch a detached cache back on
                    RECLAIMING.setRelease(c, 0);
                }
            }
        }
        return pages;
    }

    /** Waits until the owner is not inside an operation that started before the reclaimer's membarrier. */
    private void awaitQuiescent() {
        int s = (int) SEQ.getVolatile(this);
        for (int spins = 0; (s & 1) != 0 && (int) SEQ.getVolatile(this) == s && owner.isAlive(); spins++) {
            HandleProtocol.backoff(spins);
        }
    }

    private long reclaimFrom(Zone[] allZones, Zone[] only) {
        long pages = 0;
        int zoneCount = stacks.length / perZone;
        if (only == null) {
            for (int id = 0; id < zoneCount && id < allZones.length; id++) {
                pages += reclaimFrom(allZones[id]);
            }
        } else {
            for (Zone z : only) {
                pages += z.id < zoneCount ? reclaimFrom(z) : 0;
            }
        }
        return pages;
    }

    private long reclaimFrom(Zone z) {
        long pages = 0;
        int[] st = stacks;
        for (int c = 0; c < classes; c++) {
            int at = offset(z.id, c);
            int n = st[at];
            if (n > 0) {
                // A zone is reclaimed from before it is unplugged, so it is plugged whenever a cache holds its blocks.
                spill(z, st, at + 1, n);
                st[at] = 0;
                pages += (long) n * pagesOfClass(c);
            }
        }
        return pages;
    }

    /** Detach, after the last reclaim: nothing of the allocator stays reachable from the owner's ThreadLocal map. */
    private void dropReferences() {
        detached = true;
        table = null;
        stacks = new int[0];
        pages = null;
        refillSlots = null;
        memoLists = null;
        memoZone = null;
    }

    /**
     * @return the pages of zone {@code zoneId} in this cache, read without any handshake (a sample: the owner may
     *         be changing them)
     */
    long cachedPages(int zoneId) {
        int[] st = stacks;
        long pages = 0;
        for (int c = 0; c < classes; c++) {
            int at = offset(zoneId, c);
            if (at < st.length) {
                pages += (long) st[at] * pagesOfClass(c);
            }
        }
        return pages;
    }
}
