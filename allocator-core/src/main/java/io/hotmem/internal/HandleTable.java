package io.hotmem.internal;

import io.hotmem.StaleHandleException;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

import static io.hotmem.internal.HandleLayout.CHUNK_SHIFT;
import static io.hotmem.internal.HandleLayout.CHUNK_SLOTS;
import static io.hotmem.internal.HandleLayout.ENTRY_SHIFT;
import static io.hotmem.internal.HandleLayout.FLAGS;
import static io.hotmem.internal.HandleLayout.LOCATION;
import static io.hotmem.internal.HandleLayout.MAX_SLOTS;
import static io.hotmem.internal.HandleLayout.SIZE;
import static io.hotmem.internal.HandleLayout.STATE;

/**
 * Every allocation's entry (layout in {@link HandleLayout}): the state word that {@link HandleProtocol} runs on,
 * the block's location, the requested size and the allocation flags; and the free slots. Entries live in chunks
 * of {@link HandleLayout#CHUNK_SLOTS} slots that are never moved or freed, so a reader never races with a resize.
 *
 * <p><b>Accessors.</b> The words of an entry are read and written only through the static accessors below, named
 * for their memory ordering (see the package documentation): {@code lv}/{@code la}/{@code lp} volatile, acquire
 * and plain loads, {@code so} release store, {@code cas}, {@code cax} (compare-and-exchange), {@code gaa}. Which
 * accessor a protocol step uses, and why, is {@link HandleProtocol}'s business.
 *
 * <p><b>Slots.</b> A slot is taken FREE ({@link #acquireSlot}) and returned FREE ({@link #releaseSlot}); the free
 * stack is guarded by its own monitor, a leaf lock. A new chunk is complete (every state FREE at the table's
 * first generation) before the release store that publishes it in {@link #chunks} (and, for chunk 0, the volatile
 * store of {@link #first}).
 */
final class HandleTable {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle CHUNKS = MethodHandles.arrayElementVarHandle(long[][].class);

    /** This allocator's tag, unique among open allocators ({@link HandleTags}). */
    final long tag;
    /** {@link #tag} where a handle holds it: {@code tag << TAG_SHIFT}. */
    private final long tagBits;
    /** The generation every slot starts at (see {@link HandleTags}). */
    final long firstGeneration;
    private final long[][] chunks = new long[MAX_SLOTS >>> CHUNK_SHIFT][];
    /**
     * {@code chunks[0]} once made (by the first {@link #acquireSlot}, like every chunk: an allocator that allocates
     * nothing holds none), else null. A reader of a handle in it loads the entry through this field, with no load
     * that depends on the handle before the entry's; the chunk array costs one more such load. A dependent chain of
     * reads gets one load shorter: {@code AccessBenchmark.handleGetLong} 13.9 to 11.9 ns per read (2 vCPU AMD EPYC,
     * JDK 25). Volatile: its store publishes the chunk, complete, as {@link #chunks}' release store does.
     */
    private volatile long[] first;

    /**
     * Slot allocation state, in an object of its own whose monitor guards it (a leaf lock): its writes then share
     * no cache line with {@link #tag} and {@link #chunks}, which every access reads.
     */
    private static final class FreeSlots {
        int[] stack = new int[1024];
        int count;
        int nextUnused;
    }

    private final FreeSlots free = new FreeSlots();
    /**
     * Set for good by {@link #retire} (under the free stack's monitor): no slot is handed out any more. Volatile for
     * the message of a lookup that finds no chunk (read off the hot paths only).
     */
    private volatile boolean retired;

    /**
     * Leases a tag for the table.
     *
     * @throws IllegalStateException if {@link HandleTags#MAX_LIVE} tables are open
     */
    HandleTable() {
        HandleTags.Lease lease = HandleTags.acquire();
        this.tag = lease.tag();
        this.tagBits = lease.tag() << HandleLayout.TAG_SHIFT;
        this.firstGeneration = lease.firstGeneration();
    }

    /** @return a chunk whose every state is FREE at {@code gen} */
    private static long[] newChunk(long gen) {
        long[] c = new long[CHUNK_SLOTS << ENTRY_SHIFT];
        for (int i = 0; i < CHUNK_SLOTS; i++) {
            c[(i << ENTRY_SHIFT) + STATE] = HandleLayout.freeState(gen);
        }
        return c;
    }

    /** Gives the tag back (the allocator is closed: no handle of it is accepted any more). */
    void releaseTag() {
        HandleTags.release(tag);
    }

    /**
     * Forgets every chunk, for close, after the last use of any entry by close itself: every later lookup of a handle
     * throws {@link StaleHandleException} (the facade reports the allocator closed), and no slot is handed out again
     * (no chunk is made again). The optimistic reads do not check for close themselves: they count on the range
     * segment being closed, and it stays open when a scoped reader's view of it is inside blocking I/O at close; then
     * this is what stops them. A reader that loaded a chunk before this goes on with it: it races close, and the
     * chunk is an ordinary array.
     */
    void retire() {
        synchronized (free) {
            retired = true;
            first = null;
            for (int ci = 0; ci < chunks.length; ci++) {
                CHUNKS.setRelease(chunks, ci, null);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ lookup

    /**
     * @return the chunk holding the handle's entry
     * @throws StaleHandleException for a foreign or garbage handle (the generation is checked on the state word)
     */
    long[] chunk(long handle) {
        long[] c = first;
        // This table's tag and chunk 0, in one test (non-short-circuit &: one branch for both).
        if ((((handle ^ tagBits) & HandleLayout.TAG_AND_CHUNK_MASK) == 0) & (c != null)) {
            return c;
        }
        return chunkFromArray(handle);
    }

    /** The rest of {@link #chunk}, out of line: the inlined part stays small. */
    private long[] chunkFromArray(long handle) {
        if (HandleLayout.tagOf(handle) != tag) {
            throw foreign(handle);
        }
        long[] c = (long[]) CHUNKS.getAcquire(chunks, HandleLayout.chunkIndex(handle));
        if (c == null) {
            throw retired ? retiredLookup(handle) : neverAllocated(handle); // the facade reports close as closed
        }
        return c;
    }

    /** @return whether {@code handle}, one of this table's, names a live allocation now */
    boolean isLive(long handle) {
        long[] c = chunk(handle);
        return HandleLayout.isLive(lvState(c, HandleLayout.base(handle)), handle);
    }

    /**
     * @return whether {@code handle}, one of this table's, names a live allocation now that leak detection tracks
     *         ({@link HandleLayout#FLAG_TRACKED}): after its generation wrapped, a handle can name a live allocation
     *         again, a later one, which is tracked only if the flag says so
     */
    boolean isLiveTracked(long handle) {
        long[] c = chunk(handle);
        int base = HandleLayout.base(handle);
        // The volatile load of the state orders the flags load after it: the flags are those of the allocation
        // the state names, or of a later one (then the state is stale, as any answer of a racy query may be).
        return HandleLayout.isLive(lvState(c, base), handle) && (lpFlags(c, base) & HandleLayout.FLAG_TRACKED) != 0;
    }

    /**
     * Walks every slot ever used (volatile reads, no lock: exact only while no allocation or free runs).
     *
     * @return {count, bytes} of the live allocations
     */
    long[] liveAllocations() {
        int used;
        synchronized (free) {
            used = free.nextUnused;
        }
        long count = 0;
        long bytes = 0;
        for (int k = 0; k < used; k++) {
            int slot = HandleLayout.slotOfUse(k);
            long[] c = chunkOfSlot(slot);
            int base = HandleLayout.baseOfSlot(slot);
            if ((lvState(c, base) & HandleLayout.FREE) == 0) {
                count++;
                bytes += lpSize(c, base);
            }
        }
        return new long[] {count, bytes};
    }

    long[] chunkOfSlot(int slot) {
        int ci = slot >>> CHUNK_SHIFT;
        return ci == 0 ? first : (long[]) CHUNKS.getAcquire(chunks, ci); // the slot's chunk exists: it was taken
    }

    // Exceptions are built out of line, so the hot paths stay small enough for the JIT to inline them.
    private static StaleHandleException neverAllocated(long handle) {
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": slot "
                + HandleLayout.slotOf(handle) + " was never allocated");
    }

    private static StaleHandleException retiredLookup(long handle) {
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": the allocator is closed");
    }

    StaleHandleException foreign(long handle) {
        if (handle == 0) {
            return new StaleHandleException("stale handle 0x0: NULL_HANDLE is never a handle");
        }
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": its tag "
                + HandleLayout.tagOf(handle) + " is not this allocator's (" + tag + "): foreign or garbage");
    }

    // ------------------------------------------------------------------------------------------------ words

    static long lvState(long[] c, int base) {
        return (long) LONGS.getVolatile(c, base + STATE);
    }

    static long laState(long[] c, int base) {
        return (long) LONGS.getAcquire(c, base + STATE);
    }

    static long lpState(long[] c, int base) {
        return c[base + STATE];
    }

    static boolean casState(long[] c, int base, long expect, long update) {
        return LONGS.compareAndSet(c, base + STATE, expect, update);
    }

    static void soState(long[] c, int base, long state) {
        LONGS.setRelease(c, base + STATE, state);
    }

    /** @return the state before adding {@code delta} */
    static long gaaState(long[] c, int base, long delta) {
        return (long) LONGS.getAndAdd(c, base + STATE, delta);
    }

    /** @return the witness: the state found, which was replaced by {@code update} if it equals {@code expect} */
    static long caxState(long[] c, int base, long expect, long update) {
        return (long) LONGS.compareAndExchange(c, base + STATE, expect, update);
    }

    static long lpLocation(long[] c, int base) {
        return c[base + LOCATION];
    }

    static void spLocation(long[] c, int base, long loc) {
        c[base + LOCATION] = loc;
    }

    static void soLocation(long[] c, int base, long loc) {
        LONGS.setRelease(c, base + LOCATION, loc);
    }

    static long lpSize(long[] c, int base) {
        return c[base + SIZE];
    }

    static void spSize(long[] c, int base, long size) {
        c[base + SIZE] = size;
    }

    static long lpFlags(long[] c, int base) {
        return c[base + FLAGS];
    }

    static void spFlags(long[] c, int base, long flags) {
        c[base + FLAGS] = flags;
    }

    // ------------------------------------------------------------------------------------------------ slots

    /**
     * Takes a free slot. Its state stays FREE until {@link HandleProtocol#publish}.
     *
     * @return the slot, or -1 when all {@link HandleLayout#MAX_SLOTS} are live
     */
    int acquireSlot() {
        synchronized (free) {
            return acquireSlotLocked();
        }
    }

    private int acquireSlotLocked() {
        FreeSlots f = free;
        int slot;
        if (retired) {
            return -1; // closed: the allocation meets the closed check (or the closed zones) next
        } else if (f.count > 0) {
            slot = f.stack[--f.count];
        } else if (f.nextUnused < MAX_SLOTS) {
            slot = HandleLayout.slotOfUse(f.nextUnused++);
            int ci = slot >>> CHUNK_SHIFT;
            if (chunks[ci] == null) {
                long[] c = newChunk(firstGeneration);
                CHUNKS.setRelease(chunks, ci, c); // publishes the chunk, complete
                if (ci == 0) {
                    first = c; // publishes it to chunk()'s fast path, complete
                }
            }
        } else {
            return -1;
        }
        return slot;
    }

    /**
     * Takes up to {@code n} free slots for a thread cache, into {@code dst[0 .. k)}.
     *
     * @return how many, 0 when all {@link HandleLayout#MAX_SLOTS} are live
     */
    int acquireSlots(int[] dst, int n) {
        synchronized (free) {
            int k = 0;
            while (k < n) {
                int slot = acquireSlotLocked();
                if (slot < 0) {
                    break;
                }
                dst[k++] = slot;
            }
            // Last taken first: the thread cache stacks the batch so that it hands out the slot taken last first (in
            // a steady loop, the only one it uses): for fresh slots, the one farthest from the batch another thread
            // takes next. Fresh slots are also spread four entries apart (HandleLayout.slotOfUse), so that the
            // busiest entries of two threads do not share a cache line (which cost 70-130 ns instead of 25-40 per
            // allocate + free and thread with two threads, AllocFreeTwoThreadsBenchmark).
            for (int i = 0, j = k - 1; i < j; i++, j--) {
                int t = dst[i];
                dst[i] = dst[j];
                dst[j] = t;
            }
            return k;
        }
    }

    /** Returns a slot whose state is FREE (after a free, or an allocation that found no block). */
    void releaseSlot(int slot) {
        synchronized (free) {
            releaseSlotLocked(slot);
        }
    }

    private void releaseSlotLocked(int slot) {
        FreeSlots f = free;
        if (f.count == f.stack.length) {
            f.stack = Arrays.copyOf(f.stack, f.stack.length * 2);
        }
        f.stack[f.count++] = slot;
    }

    /** Returns the FREE slots {@code src[from .. from + n)} from a thread cache. */
    void releaseSlots(int[] src, int from, int n) {
        synchronized (free) {
            for (int i = from; i < from + n; i++) {
                releaseSlotLocked(src[i]);
            }
        }
    }

    /** @return slots on the table's free stack plus never-used ones (thread caches hold the rest of the free) */
    int freeSlotsInTable() {
        synchronized (free) {
            return free.count + (MAX_SLOTS - free.nextUnused);
        }
    }

    /** Sets the location of a FREE entry that a thread cache holds (no reader acts on a FREE entry's location). */
    void setFreeLocation(int slot, long location) {
        spLocation(chunkOfSlot(slot), HandleLayout.baseOfSlot(slot), location);
    }

    /** @return the location a FREE entry held by a thread cache keeps */
    long freeLocation(int slot) {
        return lpLocation(chunkOfSlot(slot), HandleLayout.baseOfSlot(slot));
    }
}
