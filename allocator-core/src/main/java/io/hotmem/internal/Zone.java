package io.hotmem.internal;

import io.hotmem.ZoneStatus;
import io.hotmem.ZoneType;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
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
 * <h2>Page map</h2>
 * One byte per page: a head page carries {@link #FREE_HEAD} or {@link #USED_HEAD} and its order (and
 * {@link #MOVABLE_BLOCK} for a HOTREMOVABLE allocation); every other page is 0. Walking heads from page 0 and
 * stepping {@code 2^order} visits every block once. Free heads are linked per order through {@code next}/{@code prev};
 * a used head's handle-table slot is in {@code owner} (the reverse map relocation walks).
 *
 * <h2>Invariants (checked by {@link #checkLocked})</h2>
 * <pre>
 *   freePages + activePages == presentPages
 *   freePages  == sum over free heads of 2^order == sum over free lists of 2^order
 *   activePages == sum over used heads of 2^order;  liveBlocks == number of used heads
 *   type == MOVABLE  =>  every used head has MOVABLE_BLOCK
 * </pre>
 *
 * <p><b>Locking.</b> Every method whose name ends in {@code Locked} must be called with {@link #lock} held (asserted).
 * {@link #memory} is also read without the lock by accessors, which validate what they read (see
 * {@link HandleTable}).
 */
final class Zone {
    static final int NIL = -1;
    static final int FREE_HEAD = 0x80;
    static final int USED_HEAD = 0x40;
    static final int MOVABLE_BLOCK = 0x20;
    static final int ORDER_MASK = 0x1F;

    static final MemorySegment NO_MEMORY = MemorySegment.ofArray(new byte[0]);

    final int id;
    final ZoneType type;
    final Node node;
    /** Byte offset of the zone in its node's region. */
    final long offsetInNode;
    /** Pages managed while plugged. */
    final int pages;
    final int pageShift;
    final int maxOrder;
    final ReentrantLock lock = new ReentrantLock();

    /**
     * The zone's memory while plugged, a zero-length segment otherwise. Written under {@link #lock}; read by
     * accessors without it (a stale read hits a closed or empty segment and throws, and the accessor retries).
     */
    MemorySegment memory = NO_MEMORY;
    /** The allocator's memory-by-zone-id table, kept equal to {@link #memory} at this zone's id. */
    private final MemorySegment[] memoryById;

    // Guarded by lock; the arrays exist only while plugged.
    private byte[] info;
    private int[] next;
    private int[] prev;
    private int[] owner;
    private final int[] heads;
    private final int[] freeBlocks;
    private long freePages;
    private long activePages;
    private long presentPages;
    private int liveBlocks;
    /** The node is ENABLED. */
    private boolean open;
    /** A remap is emptying this zone: no new block until it ends. */
    private boolean draining;

    Zone(int id, ZoneType type, Node node, long offsetInNode, int pages, int pageShift, int maxOrder,
         MemorySegment[] memoryById) {
        this.id = id;
        this.memoryById = memoryById;
        this.type = type;
        this.node = node;
        this.offsetInNode = offsetInNode;
        this.pages = pages;
        this.pageShift = pageShift;
        this.maxOrder = maxOrder;
        this.heads = new int[maxOrder + 1];
        this.freeBlocks = new int[maxOrder + 1];
        Arrays.fill(heads, NIL);
    }

    /** @return {@code Normal[0]}-style name */
    String label() {
        return type.label() + "[" + id + "]";
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /** Takes {@code zoneMemory} (exactly {@code pages} pages) and frees all of it into the buddy lists. */
    void plugLocked(MemorySegment zoneMemory) {
        assert lock.isHeldByCurrentThread();
        assert zoneMemory.byteSize() == (long) pages << pageShift;
        info = new byte[pages];
        next = new int[pages];
        prev = new int[pages];
        owner = new int[pages];
        Arrays.fill(heads, NIL);
        Arrays.fill(freeBlocks, 0);
        freePages = 0;
        activePages = 0;
        liveBlocks = 0;
        presentPages = pages;
        // Carve the largest aligned blocks that fit: 0..1023, 1024..2047, ... then smaller ones for the tail.
        // Pushed from the end backwards, so each free list starts at its lowest address and a new zone fills up
        // from its start.
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
        for (int i = count - 1; i >= 0; i--) {
            int order = info[carved[i]];
            pushFree(order, carved[i]);
            freePages += 1L << order;
        }
        memory = zoneMemory;
        memoryById[id] = zoneMemory;
        open = false;
        draining = false;
    }

    /** Forgets the memory. The caller checked that no block is live (or is closing the allocator). */
    void unplugLocked() {
        assert lock.isHeldByCurrentThread();
        memory = NO_MEMORY;
        memoryById[id] = NO_MEMORY;
        info = null;
        next = null;
        prev = null;
        owner = null;
        Arrays.fill(heads, NIL);
        Arrays.fill(freeBlocks, 0);
        freePages = 0;
        activePages = 0;
        presentPages = 0;
        open = false;
        draining = false;
    }

    boolean isPluggedLocked() {
        assert lock.isHeldByCurrentThread();
        return info != null;
    }

    /** Opens or closes the zone to new blocks (node enable/disable). */
    void setOpenLocked(boolean open) {
        assert lock.isHeldByCurrentThread();
        this.open = open && info != null;
    }

    boolean isOpenLocked() {
        assert lock.isHeldByCurrentThread();
        return open;
    }

    /** Closes (or reopens) the zone to new blocks while a remap empties it. */
    void setDrainingLocked(boolean draining) {
        assert lock.isHeldByCurrentThread();
        this.draining = draining;
    }

    /** @return whether an allocation may take a block here now */
    boolean isAcceptingLocked() {
        assert lock.isHeldByCurrentThread();
        return open && !draining;
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

    /** Frees the used block at head {@code page}, taking the lock: {@link #freeLocked}. */
    void free(int page) {
        lock.lock();
        try {
            freeLocked(page);
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------------ buddy

    /**
     * Takes a block of {@code order} for handle-table slot {@code slot}: the smallest free block that fits is
     * split down, each upper half going back to the free list one order below.
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
        while (k <= maxOrder && heads[k] == NIL) {
            k++;
        }
        if (k > maxOrder) {
            return NIL;
        }
        int page = heads[k];
        removeFree(k, page);
        // Split: the order-k block at page becomes [page, order] + buddies of order order..k-1 above it.
        while (k > order) {
            k--;
            pushFree(k, page + (1 << k));
        }
        info[page] = (byte) (USED_HEAD | (movable ? MOVABLE_BLOCK : 0) | order);
        owner[page] = slot;
        freePages -= 1L << order;
        activePages += 1L << order;
        liveBlocks++;
        return page;
    }

    /**
     * Returns the block at head {@code page} and merges it with free buddies as far as they go.
     * Merge order matters: the merged block's head is the lower of the two heads, and its buddy is looked up at
     * the next order from that head.
     *
     * @return the order of the block that was freed
     */
    int freeLocked(int page) {
        assert lock.isHeldByCurrentThread();
        if (info == null) {
            // Only a free racing with close() gets here: the allocator's memory is gone already.
            throw new IllegalStateException(label() + " of node " + node.id + " is unplugged");
        }
        int head = info[page] & 0xFF;
        if ((head & USED_HEAD) == 0) {
            throw new IllegalStateException(label() + ": page " + page + " is not an allocated block head");
        }
        int order = head & ORDER_MASK;
        int freed = order;
        info[page] = 0;
        owner[page] = 0;
        freePages += 1L << order;
        activePages -= 1L << order;
        liveBlocks--;
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
        pushFree(order, page);
        return freed;
    }

    /** @return whether {@code page} is the head of an allocated block */
    boolean isUsedHeadLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return info != null && page < pages && (info[page] & USED_HEAD) != 0;
    }

    /** @return whether the used block at head {@code page} is a HOTREMOVABLE allocation */
    boolean isMovableBlockLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return (info[page] & MOVABLE_BLOCK) != 0;
    }

    /** @return the order of the used block at head {@code page} */
    int orderOfLocked(int page) {
        assert lock.isHeldByCurrentThread();
        return info[page] & ORDER_MASK;
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
            page += 1 << (head & ORDER_MASK);
        }
        return NIL;
    }

    private void pushFree(int order, int page) {
        int first = heads[order];
        next[page] = first;
        prev[page] = NIL;
        if (first != NIL) {
            prev[first] = page;
        }
        heads[order] = page;
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
        }
        info[page] = 0;
        freeBlocks[order]--;
    }

    // ------------------------------------------------------------------------------------------------ views

    /** @return the byte offset of page {@code page} in {@link #memory} */
    long byteOffset(long page) {
        return page << pageShift;
    }

    long freePagesLocked() {
        assert lock.isHeldByCurrentThread();
        return freePages;
    }

    /** @return a consistent snapshot of the counters (takes the lock) */
    ZoneStatus snapshot() {
        lock.lock();
        try {
            return snapshotLocked();
        } finally {
            lock.unlock();
        }
    }

    ZoneStatus snapshotLocked() {
        assert lock.isHeldByCurrentThread();
        return new ZoneStatus(id, type, freePages, activePages, presentPages);
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
        long walkedUsed = 0;
        int usedHeads = 0;
        int[] walkedFreeBlocks = new int[maxOrder + 1];
        for (int page = 0; page < pages; ) {
            int head = info[page] & 0xFF;
            int order = head & ORDER_MASK;
            if ((head & (FREE_HEAD | USED_HEAD)) == 0 || order > maxOrder || (page & ((1 << order) - 1)) != 0
                    || page + (1 << order) > pages) {
                fail("page " + page + " is not a valid block head (info 0x" + Integer.toHexString(head) + ")");
            }
            for (int i = page + 1; i < page + (1 << order); i++) {
                if (info[i] != 0) {
                    fail("page " + i + " inside the order-" + order + " block at " + page + " has info 0x"
                            + Integer.toHexString(info[i] & 0xFF));
                }
            }
            if ((head & FREE_HEAD) != 0) {
                walkedFree += 1L << order;
                walkedFreeBlocks[order]++;
            } else {
                walkedUsed += 1L << order;
                usedHeads++;
                if (type == ZoneType.MOVABLE && (head & MOVABLE_BLOCK) == 0) {
                    fail("non-movable block at page " + page + " in a MOVABLE zone");
                }
            }
            page += 1 << order;
        }
        if (walkedFree != freePages || walkedUsed != activePages || usedHeads != liveBlocks) {
            fail("page map has free " + walkedFree + ", active " + walkedUsed + ", blocks " + usedHeads
                    + " but counters say free " + freePages + ", active " + activePages + ", blocks " + liveBlocks);
        }
        for (int order = 0; order <= maxOrder; order++) {
            int count = 0;
            int prevPage = NIL;
            for (int p = heads[order]; p != NIL; p = next[p]) {
                if ((info[p] & 0xFF) != (FREE_HEAD | order) || prev[p] != prevPage) {
                    fail("free list " + order + " holds page " + p + " with info 0x"
                            + Integer.toHexString(info[p] & 0xFF));
                }
                prevPage = p;
                if (++count > pages) {
                    fail("free list " + order + " has a cycle");
                }
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
