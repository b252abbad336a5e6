package io.hotmem.internal;

import io.hotmem.ZoneStatus;
import io.hotmem.ZoneType;

import io.hotmem.internal.prim.AddressRange;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One zone: a contiguous, page-aligned part of a node with its own buddy allocator, lock and counters.
 *
 * <h2>Buddy arithmetic</h2>
 * Pages are numbered from 0 at the zone's start. A block of order {@code o} is {@code 2^o} pages whose first page
 * (its head) is a multiple of {@code 2^o}. Its buddy is the block of the same order it was split from, found by
 * flipping bit {@code o} of the head: for head 8 at order 1, the buddy is {@code 8 ^ (1 << 1) = 10}; merged they
 * form the order-2 block at {@code 8 & ~(1 << 1) = 8}. When the zone's page count is not a power of two, the tail
 * is carved into smaller aligned blocks and a buddy that would reach past the end never exists.
 *
 * <h2>Exact runs</h2>
 * An allocation holds exactly the pages it asked for (Linux {@code alloc_pages_exact}): a <em>run</em> of
 * {@code n} pages is taken as the buddy block of order {@code o = ceil(log2 n)}, and the block's tail past
 * {@code n} goes straight back to the free lists as the aligned blocks that tile it (for {@code n = 5} in an
 * order-3 block at head 8: page 13 at order 0 and pages 14-15 at order 1). Every tail block's buddy lies inside the
 * run, so none merges at allocation. Freeing a run tiles it the same way (pages 8-11 at order 2, page 12 at
 * order 0) and frees each tile, which merges with the free tail as far as it goes: the order-3 block comes back
 * whole. A run of {@code 2^o} pages is the aligned block itself. A run's head is always aligned to
 * {@code 2^o}, because it is the head of the block it was cut from.
 *
 * <h2>Page map</h2>
 * One byte per page: a head page carries {@link #FREE_HEAD} or {@link #USED_HEAD} and its order (for a used head,
 * the order of the block its run was cut from; and {@link #MOVABLE_BLOCK} for every block of a MOVABLE zone, and
 * for a HOTREMOVABLE allocation that did not come through a thread cache; whether a block may move is decided by its
 * handle-table flags); every other page is 0. A used head's run length in pages is in {@code next} (a used head is
 * on no list). Walking heads from page 0 and stepping {@code 2^order} pages from a free head, the run length from a
 * used head, visits every block once. Free heads are linked per order through {@code next}/{@code prev}; a used
 * head's handle-table slot is in {@code owner} (the reverse map relocation walks); a free head's {@code owner}
 * holds when it became free (see Purging).
 *
 * <h2>Thread caches</h2>
 * A block handed to a {@link ThreadCache} is a used head to the zone, owned by a FREE handle-table slot that the
 * cache holds with it: it stays out of the buddy lists until the cache gives both back, and the cache reuses the
 * pair without this zone's lock (nothing in the page map changes). Every change of whether the zone accepts new
 * blocks bumps {@link #cacheEpoch} under the zone lock, and the allocator then takes this zone's blocks back from
 * every thread's cache ({@link ThreadCache#reclaim}), so a closed zone has no cached block and no cache hands one out.
 * A relocation walks the page map only after that, so the owners it reads are those of live allocations.
 *
 * <h2>Purging</h2>
 * Each free head records when it became free (in ticks of the allocator's {@link Ticker}), or 0 once its memory
 * went back to the OS ({@link #purgeLocked}): in {@code owner}, which a free head does not otherwise use. Merging a
 * purged block with a dirty one makes a dirty block; splitting keeps the state. {@link #purgedPages} counts the
 * pages of purged free blocks. Where the OS refuses to take memory back (mlock-ed memory), the first refusal turns
 * purging off for the zone until it is plugged again ({@link #releaseFailed}), with one warning.
 *
 * <h2>Placement</h2>
 * Free memory that is resident is reused before memory that is not (purged, or never touched), so that the
 * process's resident size follows the live data, not the memory the data has passed through. Each free list keeps
 * its resident blocks before its purged ones (a resident block is linked at the head, a purged one at the
 * {@link #tails tail}, a block the purge returns moves to the tail), and {@link #allocateLocked} takes the
 * smallest order whose list starts with a resident block, splitting a larger resident block rather than taking a
 * purged block of the order; only when no list starts with one does it take the smallest purged block. The cost is
 * splitting large resident blocks that a later large request could have used, which the purge (turning them into
 * purged blocks, taken last) and compaction undo.
 *
 * <p>Placement alone cannot keep the resident size near the live data when blocks are freed faster than the purge
 * delay (a free block too small for the next requests stays resident until it is purged). With a
 * {@link #residentFreeLimit} the zone keeps at most that fraction of its active pages (thread-cached blocks count
 * as active; at least {@link #RESIDENT_FREE_FLOOR_BYTES}) free and resident: a free that leaves more, because it
 * added free memory or because the active pages fell, returns resident free blocks to the OS at once, under the
 * zone lock, the oldest of the largest order first ({@link #lastResident}), until the zone is within it, or at
 * most {@link #RELEASES_PER_FREE} blocks per free (a zone over the limit in many small blocks comes back within it
 * over the next frees). That trades page faults (the kernel zeroes a page when it is touched again) and a system
 * call per returned block for resident memory. Only a free changes either side of the comparison upwards, so
 * checking at each free keeps the limit, but for what the per-free bound leaves for the next ones.
 *
 * <h2>Invariants (checked by {@link #checkLocked})</h2>
 * <pre>
 *   freePages + activePages == presentPages      (activePages counts cached blocks too: they are out of the buddy)
 *   freePages  == sum over free heads of 2^order == sum over free lists of 2^order
 *   activePages == sum over used heads of their run length;  liveBlocks == number of used heads
 *   a used head of order o has a run length n with 2^(o-1) < n <= 2^o (n == 1 at order 0), and its head is
 *   aligned to 2^o
 *   purgedPages == sum over free heads with owner (their free-since tick) == 0 of 2^order
 *   in each free list, no resident block (owner != 0) after a purged one; tails[order] is its last block
 *   type == MOVABLE  =>  every used head has MOVABLE_BLOCK
 * </pre>
 *
 * <p><b>Locking.</b> Every method whose name ends in {@code Locked} must be called with {@link #lock} held (asserted).
 * {@link #memory} is also read without the lock by accessors, which validate what they read (see
 * {@link HandleTable}).
 */
final class Zone extends ZonePadAfter {
    static final int NIL = -1;
    static final int FREE_HEAD = 0x80;
    static final int USED_HEAD = 0x40;
    static final int MOVABLE_BLOCK = 0x20;
    static final int ORDER_MASK = 0x1F;
    /** Spins of {@link #lockForAllocation} before it parks (about a microsecond each). */
    static final int LOCK_SPINS = 100;

    final ZoneType type;
    final Node node;
    /** Byte offset of the zone in the allocator's address range (fixed for the zone's life). */
    final long offsetInRange;
    /** The range page of the zone's page 0: locations name pages of the range ({@link #location}). */
    final long firstPage;
    /** Pages managed while plugged. */
    final int pages;
    final int pageShift;
    final int maxOrder;
    final ReentrantLock lock = new ReentrantLock();
    /** The allocator's coarse clock, for when free heads became free (see Purging). */
    private final Ticker ticker;
    /** Resident free memory kept at most, as a fraction of the active pages (see Placement); +infinity: no limit. */
    private final double residentFreeLimit;
    /** Resident free pages a zone may always keep under {@link #residentFreeLimit}. */
    private final long residentFreeFloor;
    /** The resident free memory every zone may keep whatever its {@link #residentFreeLimit}. */
    static final long RESIDENT_FREE_FLOOR_BYTES = 4L << 20;
    /**
     * Blocks one free, or one lock hold that frees a batch, returns at most under {@link #residentFreeLimit} (each
     * is a system call under the zone lock): a zone over its limit in many small blocks comes back within it over
     * the next frees, or by the agent's purge.
     */
    static final int RELEASES_PER_FREE = 16;

    /** Until when ({@link System#nanoTime}) direct and background compaction leave this zone alone ({@link Compactor}). */
    volatile long compactDeferredUntil = System.nanoTime();
    /**
     * Compactions of this zone in flight: an unplug waits for them to end, so that it never meets a compaction's
     * target block ({@link NodeLifecycle}); a compaction takes no target once the zone is closed.
     */
    final java.util.concurrent.atomic.AtomicInteger compactions = new java.util.concurrent.atomic.AtomicInteger();
    /**
     * Blocks of this zone freed at PARANOID whose give-back waits for an operation (blocking I/O) on a segment of
     * theirs to end ({@link StuckScopes}): still used heads, not live allocations. Guarded by {@link #lock}, and
     * changed in the same hold as the block's state ({@link #holdForOperation}, {@link #freeHeld}), so that a reader
     * under the lock (unplug's message) sees both together.
     */
    private int heldByOperations;

    /** The last epoch after which the allocator emptied every thread cache of this zone (for the invariant check). */
    volatile int flushedEpoch = -1;

    /**
     * The zone's memory while plugged, a zero-length segment otherwise. Written under {@link #lock}; read by
     * accessors without it (a stale read hits a closed or empty segment and throws, and the accessor retries).
     */
    MemorySegment memory = MemoryTable.NO_MEMORY;

    // Guarded by lock; the arrays exist only while plugged.
    private byte[] info;
    private int[] next;
    private int[] prev;
    private int[] owner;
    private final int[] heads;
    /** The last block of each free list (see Placement). */
    private final int[] tails;
    /** The last resident block of each free list, the oldest (see Placement), or {@link #NIL}. */
    private final int[] lastResident;
    /**
     * A release of free memory failed (mlock-ed memory refuses {@code MADV_DONTNEED}): the purge and the
     * {@link #residentFreeLimit} are off for this zone until it is plugged again.
     */
    private boolean releaseFailed;
    private final int[] freeBlocks;
    /** The allocator's range while plugged, for {@link #purgeLocked}. */
    private AddressRange range;
    /** The free-since tick of the block {@link #allocateLocked} last took, for the tail {@link #trimLocked} frees. */
    private int takenSince;
    private long purgedPages;
    private long freePages;
    private long activePages;
    private long presentPages;
    private int liveBlocks;
    /** The node is ENABLED. */
    private boolean open;
    /** A remap is emptying this zone: no new block until it ends. */
    private boolean draining;

    /**
     * @param residentFreeLimit the resident free memory the zone keeps, as a fraction of its active memory (at
     *                          least {@link #RESIDENT_FREE_FLOOR_BYTES}), beyond which a freed block is returned to
     *                          the OS at once; {@link Double#POSITIVE_INFINITY} for no limit (see Placement)
     */
    Zone(int id, ZoneType type, Node node, long offsetInRange, int pages, int pageShift, int maxOrder,
         Ticker ticker, double residentFreeLimit) {
        super(id, Math.min(ThreadCache.largestCapacity(pageShift), Math.max(2, pages >>> 6)));
        this.ticker = ticker;
        this.residentFreeLimit = residentFreeLimit;
        this.residentFreeFloor = RESIDENT_FREE_FLOOR_BYTES >>> pageShift;
        this.type = type;
        this.node = node;
        this.offsetInRange = offsetInRange;
        this.firstPage = offsetInRange >>> pageShift;
        this.pages = pages;
        this.pageShift = pageShift;
        this.maxOrder = maxOrder;
        this.heads = new int[maxOrder + 1];
        this.tails = new int[maxOrder + 1];
        this.lastResident = new int[maxOrder + 1];
        this.freeBlocks = new int[maxOrder + 1];
        Arrays.fill(heads, NIL);
        Arrays.fill(tails, NIL);
        Arrays.fill(lastResident, NIL);
    }

    /** @return {@code Normal[0]}-style name */
    String label() {
        return type.label() + "[" + id + "]";
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /**
     * Takes {@code zoneMemory} (exactly {@code pages} pages of {@code range}, at {@link #offsetInRange}) and frees
     * all of it into the buddy lists. Fresh memory counts as purged: it has never been touched (or was released).
     */
    void plugLocked(MemorySegment zoneMemory, AddressRange range) {
        assert lock.isHeldByCurrentThread();
        assert zoneMemory.byteSize() == (long) pages << pageShift;
        // Every array first: an OutOfMemoryError leaves the zone as it was (unplugged).
        byte[] newInfo = new byte[pages];
        int[] newNext = new int[pages];
        int[] newPrev = new int[pages];
        int[] newOwner = new int[pages];
        info = newInfo;
        next = newNext;
        prev = newPrev;
        owner = newOwner;
        this.range = range;
        releaseFailed = false; // a new mapping: purging and the limit are tried again
        Arrays.fill(heads, NIL);
        Arrays.fill(tails, NIL);
        Arrays.fill(lastResident, NIL);
        Arrays.fill(freeBlocks, 0);
        purgedPages = 0;
        freePages = 0;
        activePages = 0;
        liveBlocks = 0;
        presentPages = pages;
        // Carve the largest aligned blocks that fit: 0..1023, 1024..2047, ... then smaller ones for the tail.
        // Linked so that each free list starts at its lowest address and a new zone fills up from its start: a
        // purged block goes to its list's tail (pushed from the start forwards), a resident one to its head (from
        // the end backwards).
        int[] carved = new int[Integer.SIZE * (maxOrder + 1) + (pages >>> maxOrder) + 1];
        int count = 0;
        for (int page = 0; page < pages; ) {
            int order = page == 0 ? maxOrder : Math.min(maxOrder, Integer.numberOfTrailingZeros(page));
            while (page + (1 << order) > pages) {
                order--;
            }
            carved[count++] = page;
            info[page] = (byte) order;
            page += 1 << order;
        }
        int since = range.canRelease() ? 0 : ticker.now();
        for (int j = 0; j < count; j++) {
            int i = since == 0 ? j : count - 1 - j;
            int order = info[carved[i]];
            pushFree(order, carved[i], since);
            freePages += 1L << order;
        }
        memory = zoneMemory;
        open = false;
        draining = false;
        bumpEpochLocked();
    }

    /** Forgets the memory. The caller checked that no block is live (or is closing the allocator). */
    void unplugLocked() {
        assert lock.isHeldByCurrentThread();
        memory = MemoryTable.NO_MEMORY;
        info = null;
        next = null;
        prev = null;
        owner = null;
        range = null;
        Arrays.fill(heads, NIL);
        Arrays.fill(tails, NIL);
        Arrays.fill(lastResident, NIL);
        Arrays.fill(freeBlocks, 0);
        purgedPages = 0;
        freePages = 0;
        activePages = 0;
        presentPages = 0;
        liveBlocks = 0;
        open = false;
        draining = false;
        bumpEpochLocked();
    }

    /** Moves {@link #cacheEpoch} on to the next value whose low bit says whether the zone accepts blocks now. */
    private void bumpEpochLocked() {
        int e = cacheEpoch + 1;
        if (((e & 1) == 1) != (open && !draining)) {
            e++;
        }
        cacheEpoch = e;
    }

    /** @return whether a thread cache may use blocks recorded at epoch {@code epoch} */
    static boolean isAcceptingEpoch(int epoch) {
        return (epoch & 1) == 1;
    }

    boolean isPluggedLocked() {
        assert lock.isHeldByCurrentThread();
        return info != null;
    }

    /** Opens or closes the zone to new blocks (node enable/disable). */
    void setOpenLocked(boolean open) {
        assert lock.isHeldByCurrentThread();
        this.open = open && info != null;
        bumpEpochLocked();
    }

    boolean isOpenLocked() {
        assert lock.isHeldByCurrentThread();
        return open;
    }

    boolean isDrainingLocked() {
        assert lock.isHeldByCurrentThread();
        return draining;
    }

    /** Closes (or reopens) the zone to new blocks while a remap empties it. */
    void setDrainingLocked(boolean draining) {
        assert lock.isHeldByCurrentThread();
        this.draining = draining;
        bumpEpochLocked();
    }

    int liveBlocksLocked() {
        assert lock.isHeldByCurrentThread();
        return liveBlocks;
    }

    /** @return the live blocks of {@code zones}, each zone read under its own lock (one at a time) */
    static long liveBlocks(Iterable<Zone> zones) {
        long live = 0;
        for (Zone z : zones) {
            z.lock.lock();
            try {
                live += z.liveBlocks;
            } finally {
                z.lock.unlock();
            }
        }
        return live;
    }

    /**
     * Takes {@link #lock}, spinning briefly before it parks: the allocation paths hold it for a batch of at most a
     * few microseconds, and parking and waking a thread costs more than that (most on a 2-core VM).
     */
    void lockForAllocation() {
        if (lock.tryLock()) {
            return;
        }
        for (int spins = 0; spins < LOCK_SPINS; spins++) {
            Thread.onSpinWait();
            if (lock.tryLock()) {
                return;
            }
        }
        lock.lock();
    }

    /** Frees the used block at head {@code page}, taking the lock: {@link #freeLocked}. */
    void free(int page) {
        lockForAllocation();
        try {
            freeLocked(page);
        } finally {
            lock.unlock();
        }
    }

    /** A freed block whose give-back waits for an operation on a segment of it: counted until {@link #freeHeld}. */
    void holdForOperation() {
        lockForAllocation();
        try {
            heldByOperations++;
        } finally {
            lock.unlock();
        }
    }

    /** {@link #free} of a block {@link #holdForOperation} counted, uncounting it in the same lock hold. */
    void freeHeld(int page) {
        lockForAllocation();
        try {
            heldByOperations--;
            freeLocked(page);
        } finally {
            lock.unlock();
        }
    }

    /** @return the used heads that are freed blocks an operation still uses ({@link #holdForOperation}) */
    int heldByOperationsLocked() {
        assert lock.isHeldByCurrentThread();
        return heldByOperations;
    }

    // ------------------------------------------------------------------------------------------------ buddy

    /**
     * Takes a block of {@code order} for handle-table slot {@code slot}: the smallest resident free block that fits,
     * else the smallest purged one (see Placement), is split down, each upper half going back to the free list one
     * order below.
     *
     * @return the head page, or {@link #NIL} when the zone is not accepting or has no block that large
     */
    int allocateLocked(int order, int slot, boolean movable) {
        assert lock.isHeldByCurrentThread();
        assert movable || type == ZoneType.NORMAL : "non-movable block in " + label();
        if (!open || draining || order > maxOrder) {
            return NIL;
        }
        int k = order;
        while (k <= maxOrder && (heads[k] == NIL || owner[heads[k]] == 0)) {
            k++; // a list's head is resident if any of its blocks is
        }
        if (k > maxOrder) {
            k = order;
            while (k <= maxOrder && heads[k] == NIL) {
                k++;
            }
            if (k > maxOrder) {
                return NIL;
            }
        }
        int page = heads[k];
        int since = owner[page];
        takenSince = since;
        removeFree(k, page);
        // Split: the order-k block at page becomes [page, order] + buddies of order order..k-1 above it.
        while (k > order) {
            k--;
            pushFree(k, page + (1 << k), since);
        }
        markUsed(page, order, 1 << order, slot, movable);
        return page;
    }

    /**
     * Takes a run of exactly {@code runPages} pages for {@code slot} (see Exact runs): the block of
     * {@link #orderOfRun} is taken as by {@link #allocateLocked} and its tail past the run freed at once.
     *
     * @return the head page, or {@link #NIL} when the zone is not accepting or has no block that large
     */
    int allocateRunLocked(int runPages, int slot, boolean movable) {
        int order = orderOfRun(runPages);
        int page = allocateLocked(order, slot, movable);
        if (page != NIL && runPages != 1 << order) {
            trimLocked(page, order, runPages);
        }
        return page;
    }

    /**
     * Takes a run of exactly {@code runPages} pages for {@code slot} from a free block at or above
     * {@code abovePage}, for compaction (the free scanner's side): the highest free block whose order holds the
     * run, and the top of it, so compaction packs live data towards the zone's end and leaves the start free to
     * merge. Looks at most {@code maxLooks} free heads (the lists are not sorted by address), so it may miss a
     * block. An open zone only, like {@link #allocateLocked}: a disabled zone is on its way out and an unplug must
     * not meet a compaction's extra block.
     *
     * @return the head page, or {@link #NIL} when the zone is not accepting or no such block was found
     */
    int allocateRunAboveLocked(int runPages, int slot, int abovePage, int maxLooks) {
        assert lock.isHeldByCurrentThread();
        int order = orderOfRun(runPages);
        if (!open || draining || order > maxOrder) {
            return NIL;
        }
        int best = NIL;
        int bestOrder = -1;
        int looks = 0;
        for (int k = order; k <= maxOrder && looks < maxLooks; k++) {
            for (int p = heads[k]; p != NIL && looks < maxLooks; p = next[p], looks++) {
                if (p >= abovePage && p > best) {
                    best = p;
                    bestOrder = k;
                }
            }
        }
        if (best == NIL) {
            return NIL;
        }
        int k = bestOrder;
        int since = owner[best];
        takenSince = since;
        removeFree(k, best);
        // Split, keeping the upper half each time: the lower halves go back to the free lists.
        int page = best;
        while (k > order) {
            k--;
            pushFree(k, page, since);
            page += 1 << k;
        }
        markUsed(page, order, 1 << order, slot, true);
        if (runPages != 1 << order) {
            trimLocked(page, order, runPages);
        }
        return page;
    }

    /** @return the order of the block a run of {@code runPages} pages (at least 1) is cut from */
    static int orderOfRun(int runPages) {
        return 32 - Integer.numberOfLeadingZeros(runPages - 1);
    }

    private void markUsed(int page, int order, int runPages, int slot, boolean movable) {
        info[page] = (byte) (USED_HEAD | (movable ? MOVABLE_BLOCK : 0) | order);
        owner[page] = slot;
        next[page] = runPages;
        freePages -= runPages;
        activePages += runPages;
        liveBlocks++;
    }

    /**
     * Frees the tail of the just-taken order-{@code order} block at {@code page} past its first {@code runPages}
     * pages, as the aligned blocks that tile it. They keep the block's purge state: the run is what gets written.
     */
    private void trimLocked(int page, int order, int runPages) {
        int end = page + (1 << order);
        for (int p = page + runPages; p < end; ) {
            int k = tileOrder(p, end);
            pushFree(k, p, takenSince);
            freePages += 1L << k;
            activePages -= 1L << k;
            p += 1 << k;
        }
        next[page] = runPages;
    }

    /** @return the order of the largest aligned block at {@code p} that ends at or before {@code end} */
    private int tileOrder(int p, int end) {
        int k = Math.min(maxOrder, p == 0 ? maxOrder : Integer.numberOfTrailingZeros(p));
        return Math.min(k, 31 - Integer.numberOfLeadingZeros(end - p));
    }

    /**
     * Returns the block at head {@code page} and merges it with free buddies as far as they go, then applies the
     * {@link #residentFreeLimit}. Merge order matters: the merged block's head is the lower of the two heads, and
     * its buddy is looked up at the next order from that head.
     *
     * @return the order of the block that was freed
     */
    int freeLocked(int page) {
        assert lock.isHeldByCurrentThread();
        int order = freeBlockLocked(page, ticker.now());
        applyResidentFreeLimitLocked();
        return order;
    }

    /**
     * Frees the blocks at heads {@code pages[from .. from + count)}, as {@link #freeLocked} each, and applies the
     * {@link #residentFreeLimit} once after them all: one lock hold returns at most {@link #RELEASES_PER_FREE}
     * blocks to the OS, however many blocks it frees (a thread cache giving blocks back, a relocation's batch).
     */
    void freeAllLocked(int[] pages, int from, int count) {
        assert lock.isHeldByCurrentThread();
        int now = ticker.now();
        for (int i = from; i < from + count; i++) {
            freeBlockLocked(pages[i], now);
        }
        applyResidentFreeLimitLocked();
    }

    /** {@link #freeLocked} without the resident free limit: the caller applies it once per lock hold. */
    private int freeBlockLocked(int page, int now) {
        if (info == null) {
            // Only a free racing with close() gets here: the allocator's memory is gone already.
            throw new IllegalStateException(label() + " of node " + node.id + " is unplugged");
        }
        int head = info[page] & 0xFF;
        if ((head & USED_HEAD) == 0) {
            throw new IllegalStateException(label() + ": page " + page + " is not an allocated block head");
        }
        int order = head & ORDER_MASK;
        int run = next[page];
        info[page] = 0;
        freePages += run;
        activePages -= run;
        liveBlocks--;
        if (run == 1 << order) {
            mergeFree(page, order, now);
        } else {
            // An exact run: free its tiles, each merging as far as it goes (see Exact runs).
            int end = page + run;
            for (int p = page; p < end; ) {
                int k = tileOrder(p, end);
                int tile = p;
                p += 1 << k;
                mergeFree(tile, k, now);
            }
        }
        return order;
    }

    /**
     * Under {@link #residentFreeLimit}: returns resident free blocks to the OS, the oldest of the largest order
     * first, until the resident free pages are within the budget or {@link #RELEASES_PER_FREE} blocks went back
     * (see Placement); once per lock hold that frees ({@link #freeLocked}, {@link #freeAllLocked}). A release that
     * fails (mlock-ed memory refuses {@code MADV_DONTNEED}) leaves its block resident, and turns the limit and the
     * purge off for this zone ({@link #purgeFreeBlockLocked}): a free never fails for it.
     */
    private void applyResidentFreeLimitLocked() {
        // After the frees: every tile is linked and counted, so the zone is consistent whatever a release does.
        if (residentFreeLimit == Double.POSITIVE_INFINITY || releaseFailed || !range.canRelease()) {
            return;
        }
        long budget = residentFreeBudget();
        int order = maxOrder;
        for (int released = 0; freePages - purgedPages > budget && order >= 0 && released < RELEASES_PER_FREE; ) {
            int page = lastResident[order];
            if (page == NIL) {
                order--;
                continue;
            }
            if (!purgeFreeBlockLocked(page, order)) {
                return;
            }
            released++;
        }
    }

    /** Links the free block {@code [page, order]} (not yet counted in any list) after merging it with free buddies. */
    private void mergeFree(int page, int order, int now) {
        while (order < maxOrder) {
            int buddy = page ^ (1 << order);
            if (buddy + (1 << order) > pages || (info[buddy] & 0xFF) != (FREE_HEAD | order)) {
                break;
            }
            removeFree(order, buddy);
            info[buddy] = 0;
            page = Math.min(page, buddy);
            order++;
        }
        pushFree(order, page, now);
    }

    /**
     * Returns the resident free block {@code [page, order]} to the OS and moves it to its list's tail as purged
     * (see Placement). A failure (mlock-ed memory) sets {@link #releaseFailed}, with one warning, and changes nothing
     * else.
     *
     * @return whether the memory went back
     */
    private boolean purgeFreeBlockLocked(int page, int order) {
        try {
            range.release(offsetInRange + byteOffset(page), (long) 1 << (order + pageShift));
        } catch (RuntimeException e) {
            releaseFailed = true; // first: whatever the log does, the caller goes on
            try {
                System.getLogger("io.hotmem").log(System.Logger.Level.WARNING, label() + " of node " + node.id
                        + ": returning free memory to the OS failed; purging and the resident free limit are off for "
                        + "this zone until it is plugged again", e);
            } catch (RuntimeException | Error ignored) {
                // A log handler that throws must not fail a free that is done (its callers free in batches).
            }
            return false;
        }
        removeFree(order, page);
        pushFree(order, page, 0); // to the tail, among the purged blocks
        return true;
    }

    /** @return the resident free pages the zone may keep under {@link #residentFreeLimit} (see Placement) */
    private long residentFreeBudget() {
        return Math.max(residentFreeFloor, (long) (activePages * residentFreeLimit));
    }

    // ------------------------------------------------------------------------------------------------ caches

    /**
     * Takes up to {@code count} runs of {@code runPages} pages for a thread cache, one for each of the FREE slots
     * {@code slots[0 .. count)} (their owner), head pages into {@code pagesOut}. Nothing is taken unless
     * {@link #cacheEpoch} still equals {@code epoch} (the cache's view of the zone).
     *
     * @return how many blocks were taken (for the first slots)
     */
    int refillCacheLocked(int runPages, int[] slots, int[] pagesOut, int count, int epoch) {
        assert lock.isHeldByCurrentThread();
        if (cacheEpoch != epoch || !open || draining) {
            return 0;
        }
        boolean movable = type == ZoneType.MOVABLE;
        int n = 0;
        while (n < count) {
            int page = allocateRunLocked(runPages, slots[n], movable);
            if (page == NIL) {
                break;
            }
            pagesOut[n++] = page;
        }
        return n;
    }

    // ------------------------------------------------------------------------------------------------ purge

    /**
     * Returns to the OS the free blocks of the pages {@code [fromPage, ...)} that have been free for at least
     * {@code minTicks}, walking at most {@code maxHeads} block heads and purging at most {@code maxPages} pages.
     * The blocks stay free and usable (they read as zero afterwards).
     *
     * @return the page at which the next call should go on, or {@code pages} when the walk reached the end
     */
    int purgeLocked(int fromPage, int minTicks, int maxHeads, long maxPages, long[] purgedOut) {
        assert lock.isHeldByCurrentThread();
        if (info == null || !range.canRelease() || releaseFailed) {
            return pages;
        }
        int now = ticker.now();
        int page = fromPage;
        long purged = 0;
        for (int heads = 0; page < pages && heads < maxHeads && purged < maxPages; heads++) {
            int head = info[page] & 0xFF;
            int order = head & ORDER_MASK;
            if ((head & FREE_HEAD) != 0) {
                int since = owner[page];
                if (since != 0 && now - since >= minTicks) {
                    if (!purgeFreeBlockLocked(page, order)) {
                        break; // not again each round: the warning said so once
                    }
                    purged += 1L << order;
                }
                page += 1 << order;
            } else if ((head & USED_HEAD) != 0) {
                page += next[page];
            } else {
                page++; // resumed inside a block that was merged or allocated since: walk on to the next head
            }
        }
        purgedOut[0] += purged;
        return page;
    }

    /** @return whether this zone's memory can go back to the OS (MMAP backing) while plugged */
    boolean backingCanRelease() {
        return range != null && range.canRelease();
    }

    long purgedPagesLocked() {
        assert lock.isHeldByCurrentThread();
        return purgedPages;
    }

    /** @return whether {@code page} is the head of an allocated block */
    boolean isUsedHeadLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return info != null && page < pages && (info[page] & USED_HEAD) != 0;
    }

    /** @return the order of the block the used run at head {@code page} was cut from */
    int orderOfLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return info[page] & ORDER_MASK;
    }

    /** @return the length in pages of the used run at head {@code page} */
    int runPagesLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return next[page];
    }

    /** @return the handle-table slot of the used block at head {@code page} */
    int ownerLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return owner[page];
    }

    /**
     * @return the head of the first used block at or after {@code page}, or {@link #NIL}; {@code page} must be a
     *         block head or the zone's end
     */
    int nextUsedHeadLocked(int page) {
        assert lock.isHeldByCurrentThread();
        while (page < pages) {
            int head = info[page] & 0xFF;
            if ((head & USED_HEAD) != 0) {
                return page;
            }
            page += 1 << (head & ORDER_MASK); // a free head
        }
        return NIL;
    }

    /**
     * Links a free head; {@code since} is the tick it became free, or 0 when its memory is purged: a resident block
     * at its list's head, a purged one at its tail (see Placement).
     */
    private void pushFree(int order, int page, int since) {
        owner[page] = since;
        if (since == 0) {
            purgedPages += 1L << order;
            int last = tails[order];
            prev[page] = last;
            next[page] = NIL;
            if (last != NIL) {
                next[last] = page;
            } else {
                heads[order] = page;
            }
            tails[order] = page;
        } else {
            int first = heads[order];
            next[page] = first;
            prev[page] = NIL;
            if (first != NIL) {
                prev[first] = page;
            } else {
                tails[order] = page;
            }
            heads[order] = page;
            if (lastResident[order] == NIL) {
                lastResident[order] = page; // the list held no resident block: this one is the oldest
            }
        }
        info[page] = (byte) (FREE_HEAD | order);
        freeBlocks[order]++;
    }

    private void removeFree(int order, int page) {
        int n = next[page];
        int p = prev[page];
        if (p == NIL) {
            heads[order] = n;
        } else {
            next[p] = n;
        }
        if (n != NIL) {
            prev[n] = p;
        } else {
            tails[order] = p;
        }
        if (lastResident[order] == page) {
            lastResident[order] = p; // resident or NIL: resident blocks come first
        }
        if (owner[page] == 0) {
            purgedPages -= 1L << order;
        }
        info[page] = 0;
        freeBlocks[order]--;
    }

    // ------------------------------------------------------------------------------------------------ views

    /** @return the location word of the block whose head is page {@code page} of this zone */
    long location(int page) {
        return HandleLayout.location(id, firstPage + page);
    }

    /** @return the page of this zone that location {@code loc} (of this zone) names */
    int pageOf(long loc) {
        return (int) (HandleLayout.pageOfLocation(loc) - firstPage);
    }

    /** @return the byte offset of page {@code page} in {@link #memory} */
    long byteOffset(long page) {
        return page << pageShift;
    }

    /** @return the number of free blocks of each order 0..maxOrder (Linux {@code /proc/buddyinfo}) */
    int[] freeBlocksLocked() {
        assert lock.isHeldByCurrentThread();
        return freeBlocks.clone();
    }

    /** @return the number of free blocks of {@code order} */
    int freeBlocksLocked(int order) {
        assert lock.isHeldByCurrentThread();
        return freeBlocks[order];
    }

    /** @return the largest order with a free block, or -1 when none is free */
    int largestFreeOrderLocked() {
        assert lock.isHeldByCurrentThread();
        for (int k = maxOrder; k >= 0; k--) {
            if (heads[k] != NIL) {
                return k;
            }
        }
        return -1;
    }

    long freePagesLocked() {
        assert lock.isHeldByCurrentThread();
        return freePages;
    }

    /** @return the free pages, read under the lock (thread-cached pages are not among them) */
    long freePages() {
        lock.lock();
        try {
            return freePages;
        } finally {
            lock.unlock();
        }
    }

    /**
     * @param cachedPages pages of this zone's blocks in thread caches, sampled by the caller
     * @return the counters, read together under the lock (held by the caller); cached pages count as free, not
     *         active
     */
    ZoneStatus snapshotLocked(long cachedPages) {
        assert lock.isHeldByCurrentThread();
        // Cached blocks are out of the buddy (in activePages); a sample that runs ahead of the lock-held counters
        // is clamped so the snapshot still adds up.
        long cached = Math.max(0, Math.min(cachedPages, activePages));
        return new ZoneStatus(id, type, freePages + cached, activePages - cached, presentPages, cached,
                purgedPages, info == null ? List.of() : Arrays.stream(freeBlocks).boxed().toList());
    }

    /**
     * Walks the page map and free lists and throws {@link IllegalStateException} naming the first broken
     * invariant (see the class comment).
     */
    void checkLocked() {
        assert lock.isHeldByCurrentThread();
        if (freePages + activePages != presentPages) {
            fail("free " + freePages + " + active " + activePages + " != present " + presentPages);
        }
        if (info == null) {
            if (presentPages != 0 || open) {
                fail("unplugged but present " + presentPages + ", open " + open);
            }
            return;
        }
        long walkedFree = 0;
        long walkedPurged = 0;
        long walkedUsed = 0;
        int usedHeads = 0;
        int[] walkedFreeBlocks = new int[maxOrder + 1];
        for (int page = 0; page < pages; ) {
            int head = info[page] & 0xFF;
            int order = head & ORDER_MASK;
            boolean used = (head & USED_HEAD) != 0;
            int length = used ? next[page] : 1 << order;
            if ((head & (FREE_HEAD | USED_HEAD)) == 0 || order > maxOrder || (page & ((1 << order) - 1)) != 0
                    || page + length > pages) {
                fail("page " + page + " is not a valid block head (info 0x" + Integer.toHexString(head) + ")");
            }
            if (used && (length < 1 || length > 1 << order || orderOfRun(length) != order)) {
                fail("the used run at page " + page + " has length " + length + " for order " + order);
            }
            for (int i = page + 1; i < page + length; i++) {
                if (info[i] != 0) {
                    fail("page " + i + " inside the order-" + order + " block at " + page + " has info 0x"
                            + Integer.toHexString(info[i] & 0xFF));
                }
            }
            if ((head & FREE_HEAD) != 0) {
                walkedFree += 1L << order;
                walkedFreeBlocks[order]++;
                if (owner[page] == 0) {
                    walkedPurged += 1L << order;
                }
            } else {
                walkedUsed += length;
                usedHeads++;
                if (type == ZoneType.MOVABLE && (head & MOVABLE_BLOCK) == 0) {
                    fail("non-movable block at page " + page + " in a MOVABLE zone");
                }
            }
            page += length;
        }
        if (walkedFree != freePages || walkedUsed != activePages || usedHeads != liveBlocks) {
            fail("page map has free " + walkedFree + ", active " + walkedUsed + ", blocks " + usedHeads
                    + " but counters say free " + freePages + ", active " + activePages + ", blocks " + liveBlocks);
        }
        if (walkedPurged != purgedPages) {
            fail("page map has " + walkedPurged + " purged free pages but the counter says " + purgedPages);
        }
        for (int order = 0; order <= maxOrder; order++) {
            int count = 0;
            int prevPage = NIL;
            boolean purgedSeen = false;
            int lastResidentSeen = NIL;
            for (int p = heads[order]; p != NIL; p = next[p]) {
                if ((info[p] & 0xFF) != (FREE_HEAD | order) || prev[p] != prevPage) {
                    fail("free list " + order + " holds page " + p + " with info 0x"
                            + Integer.toHexString(info[p] & 0xFF));
                }
                if (owner[p] == 0) {
                    purgedSeen = true;
                } else if (purgedSeen) {
                    fail("free list " + order + " has resident block " + p + " after a purged one");
                } else {
                    lastResidentSeen = p;
                }
                prevPage = p;
                if (++count > pages) {
                    fail("free list " + order + " has a cycle");
                }
            }
            if (tails[order] != prevPage) {
                fail("free list " + order + " ends at " + prevPage + " but its tail is " + tails[order]);
            }
            if (lastResident[order] != lastResidentSeen) {
                fail("free list " + order + " has its last resident block at " + lastResidentSeen + " but the zone "
                        + "says " + lastResident[order]);
            }
            if (count != walkedFreeBlocks[order] || count != freeBlocks[order]) {
                fail("free list " + order + " has " + count + " blocks, page map " + walkedFreeBlocks[order]
                        + ", counter " + freeBlocks[order]);
            }
        }
    }

    private void fail(String what) {
        throw new IllegalStateException("invariant broken in " + label() + " of node " + node.id + ": " + what);
    }
}
