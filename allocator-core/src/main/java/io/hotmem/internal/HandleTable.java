package io.hotmem.internal;

import io.hotmem.StaleHandleException;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Every allocation's entry: the state word that the relocation protocol runs on, the block's location, the
 * requested size and the allocation flags. Entries live in chunks of {@link #CHUNK_SLOTS} slots that are never
 * moved or freed, so a reader never races with a resize.
 *
 * <h2>Handle (64 bits)</h2>
 * <pre>
 *  63        52 51                           24 23                       0
 *  tttttttttttt gggggggggggggggggggggggggggg ssssssssssssssssssssssss
 *  t: allocator tag (12 bits, never 0, so 0 is never a handle)
 *  g: generation of the slot (28 bits): bumped on every free, so an old handle is stale
 *  s: slot (24 bits): up to 16,777,216 live allocations per allocator
 * </pre>
 *
 * <h2>State word (64 bits)</h2>
 * <pre>
 *  63                          36 35              18 17 16 15             0
 *  gggggggggggggggggggggggggggg vvvvvvvvvvvvvvvvvv F  M  pppppppppppppppp
 *  g: generation (28 bits), as in the handle
 *  v: version (18 bits): +1 on every completed move; optimistic readers validate it
 *  F: FREE, the slot holds no allocation
 *  M: MOVING, a move has frozen the block (pins == 0) and is copying it
 *  p: pin count (16 bits)
 * </pre>
 *
 * <h2>Location word</h2>
 * <pre>
 *  63             48 47                                              0
 *  zzzzzzzzzzzzzzzz  page index of the block's head in its zone (48 bits)
 * </pre>
 *
 * <h2>Relocation protocol: assumptions and guarantees</h2>
 * Assumptions: the location and size of an entry are written only (a) before its state is published with a
 * release store at allocation, or (b) by a mover while MOVING is set. Memory of a zone stays mapped until its node
 * is unplugged, and unplugging closes a shared arena (every later access throws, none faults).
 * <ul>
 *   <li><b>Optimistic read</b> (wait-free when no move completes meanwhile): acquire-load state; check generation
 *       and FREE; read location and value; {@code acquireFence}; re-load state; accept if generation, version and
 *       FREE are unchanged. Pins and MOVING may change: the old copy is frozen while MOVING, and a completed move
 *       bumps the version. A read that hits a closed arena or a garbage location throws inside and is retried.
 *       After a few failures the reader pins instead.</li>
 *   <li><b>Pinned access</b> (lock-free; waits only while a move of this block copies): CAS pins+1 when the
 *       generation matches and neither MOVING nor FREE is set; the location is then stable; work; pins-1.</li>
 *   <li><b>Move</b>: CAS pins==0 to MOVING (the freeze); copy; release-store the new location; release-store
 *       the state with version+1 and MOVING cleared. A pinned block is skipped, never forced.</li>
 *   <li><b>Free</b>: CAS from (generation, pins==0, not MOVING, not FREE) to (generation+1, FREE). A free that
 *       meets MOVING waits for the move; one that meets pins throws.</li>
 * </ul>
 * Guarantees: every accessor of one allocation is linearizable with respect to writes and moves; no write made
 * under a pin can be lost by a move (the freeze needs pins == 0, and the copy happens-after every unpin); a stale
 * handle never reaches memory. Limits: a generation repeats after 2^28 frees of one slot and a version after 2^18
 * moves of one block, so only a handle kept across that many reuses, or an optimistic read stalled across that many
 * moves of its block, could be fooled.
 */
final class HandleTable {
    static final int SLOT_BITS = 24;
    static final int GEN_BITS = 28;
    static final int TAG_BITS = 12;
    static final int GEN_SHIFT = SLOT_BITS;
    static final int TAG_SHIFT = SLOT_BITS + GEN_BITS;
    static final long SLOT_MASK = (1L << SLOT_BITS) - 1;
    static final long GEN_MASK = (1L << GEN_BITS) - 1;
    static final int TAG_MASK = (1 << TAG_BITS) - 1;
    static final int MAX_SLOTS = 1 << SLOT_BITS;

    static final int PIN_BITS = 16;
    static final long PINS_MASK = (1L << PIN_BITS) - 1;
    static final long MOVING = 1L << PIN_BITS;
    static final long FREE = MOVING << 1;
    static final int VERSION_SHIFT = PIN_BITS + 2;
    static final int VERSION_BITS = 18;
    static final long VERSION_MASK = ((1L << VERSION_BITS) - 1) << VERSION_SHIFT;
    static final long VERSION_ONE = 1L << VERSION_SHIFT;
    static final int STATE_GEN_SHIFT = VERSION_SHIFT + VERSION_BITS;
    static final long STATE_GEN_MASK = GEN_MASK << STATE_GEN_SHIFT;
    /** The bits an optimistic read validates. */
    static final long VALIDATE_MASK = STATE_GEN_MASK | VERSION_MASK | FREE;

    static final int LOC_ZONE_SHIFT = 48;
    static final long LOC_PAGE_MASK = (1L << LOC_ZONE_SHIFT) - 1;

    // Entry layout: 4 longs per slot.
    static final int ENTRY_SHIFT = 2;
    static final int STATE = 0;
    static final int LOCATION = 1;
    static final int SIZE = 2;
    static final int FLAGS = 3;

    static final int CHUNK_SHIFT = 12;
    static final int CHUNK_SLOTS = 1 << CHUNK_SHIFT;
    static final int CHUNK_MASK = CHUNK_SLOTS - 1;

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle CHUNKS = MethodHandles.arrayElementVarHandle(long[][].class);
    private static final AtomicInteger TAGS = new AtomicInteger();

    /** This allocator's tag, 1..4095. */
    final long tag;
    private final long[][] chunks = new long[MAX_SLOTS >>> CHUNK_SHIFT][];

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

    HandleTable() {
        this.tag = (TAGS.getAndIncrement() % TAG_MASK) + 1;
    }

    // ------------------------------------------------------------------------------------------------ encoding

    static long handle(long tag, long gen, int slot) {
        return (tag << TAG_SHIFT) | ((gen & GEN_MASK) << GEN_SHIFT) | slot;
    }

    static int slotOf(long handle) {
        return (int) (handle & SLOT_MASK);
    }

    static long genOfHandle(long handle) {
        return (handle >>> GEN_SHIFT) & GEN_MASK;
    }

    static long tagOf(long handle) {
        return handle >>> TAG_SHIFT;
    }

    static long genOfState(long state) {
        return (state >>> STATE_GEN_SHIFT) & GEN_MASK;
    }

    static int pinsOf(long state) {
        return (int) (state & PINS_MASK);
    }

    static long location(int zoneId, long page) {
        return ((long) zoneId << LOC_ZONE_SHIFT) | page;
    }

    static int zoneOfLocation(long loc) {
        return (int) (loc >>> LOC_ZONE_SHIFT);
    }

    static long pageOfLocation(long loc) {
        return loc & LOC_PAGE_MASK;
    }

    /** @return the index of the slot's state word in its chunk */
    static int base(long handle) {
        return (int) (handle & CHUNK_MASK) << ENTRY_SHIFT;
    }

    // ------------------------------------------------------------------------------------------------ lookup

    /**
     * @return the chunk holding the handle's entry
     * @throws StaleHandleException for a foreign or garbage handle (the generation is checked on the state word)
     */
    long[] chunk(long handle) {
        if (tagOf(handle) != tag) {
            throw foreign(handle);
        }
        long[] c = (long[]) CHUNKS.getAcquire(chunks, (int) ((handle & SLOT_MASK) >>> CHUNK_SHIFT));
        if (c == null) {
            throw neverAllocated(handle);
        }
        return c;
    }

    // Exceptions are built out of line, so the hot paths stay small enough for the JIT to inline them.
    private static StaleHandleException neverAllocated(long handle) {
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": slot "
                + slotOf(handle) + " was never allocated");
    }

    StaleHandleException foreign(long handle) {
        if (handle == 0) {
            return new StaleHandleException("stale handle 0x0: NULL_HANDLE is never a handle");
        }
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": its tag "
                + tagOf(handle) + " is not this allocator's (" + tag + "): foreign or garbage");
    }

    static StaleHandleException stale(long handle, long state) {
        return new StaleHandleException("stale handle 0x" + Long.toHexString(handle) + ": generation "
                + genOfHandle(handle) + ", slot " + slotOf(handle) + " is "
                + ((state & FREE) != 0 ? "free" : "live") + " at generation " + genOfState(state)
                + " (freed, freed twice or forged)");
    }

    /** @return true when {@code state} is live for {@code handle}, with no pin and no move: a free may CAS it */
    static boolean isFreeable(long state, long handle) {
        return (state & ~VERSION_MASK) == genOfHandle(handle) << STATE_GEN_SHIFT;
    }

    /** @return true when {@code state} belongs to a live allocation named by {@code handle} */
    static boolean isLive(long state, long handle) {
        return (state & FREE) == 0 && genOfState(state) == genOfHandle(handle);
    }

    // ------------------------------------------------------------------------------------------------ state word

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

    /** Drops one pin. */
    static void unpin(long[] c, int base) {
        long before = (long) LONGS.getAndAdd(c, base + STATE, -1L);
        assert (before & PINS_MASK) != 0 : "unpin without pin";
    }

    /**
     * Pins the entry: spins while a move copies the block (it is bounded by one block copy).
     *
     * @return the state word before the pin
     * @throws StaleHandleException if the handle is not live
     * @throws IllegalStateException if the pin count would overflow
     */
    static long pin(long[] c, int base, long handle) {
        for (int spins = 0; ; spins++) {
            long s = lvState(c, base);
            if (!isLive(s, handle)) {
                throw stale(handle, s);
            }
            if ((s & MOVING) != 0) {
                backoff(spins);
                continue;
            }
            if ((s & PINS_MASK) == PINS_MASK) {
                throw new IllegalStateException("handle 0x" + Long.toHexString(handle) + " has "
                        + PINS_MASK + " pins, the most one allocation can hold");
            }
            if (casState(c, base, s, s + 1)) {
                return s;
            }
        }
    }

    static void backoff(int spins) {
        if (spins < 64) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }

    // ------------------------------------------------------------------------------------------------ other words

    static long lpLocation(long[] c, int base) {
        return c[base + LOCATION];
    }

    static void soLocation(long[] c, int base, long loc) {
        LONGS.setRelease(c, base + LOCATION, loc);
    }

    static long lpSize(long[] c, int base) {
        return c[base + SIZE];
    }

    // ------------------------------------------------------------------------------------------------ slots

    /**
     * Takes a free slot. Its state stays FREE until {@link #publish}.
     *
     * @return the slot, or -1 when all {@link #MAX_SLOTS} are live
     */
    int acquireSlot() {
        synchronized (free) {
            return acquireSlotLocked();
        }
    }

    private int acquireSlotLocked() {
        FreeSlots f = free;
        int slot;
        if (f.count > 0) {
            slot = f.stack[--f.count];
        } else if (f.nextUnused < MAX_SLOTS) {
            slot = f.nextUnused++;
            int ci = slot >>> CHUNK_SHIFT;
            if (chunks[ci] == null) {
                long[] c = new long[CHUNK_SLOTS << ENTRY_SHIFT];
                for (int i = 0; i < CHUNK_SLOTS; i++) {
                    c[(i << ENTRY_SHIFT) + STATE] = FREE;
                }
                CHUNKS.setRelease(chunks, ci, c);
            }
        } else {
            return -1;
        }
        return slot;
    }

    /**
     * Takes up to {@code n} free slots for a thread cache, into {@code dst[0 .. k)}.
     *
     * @return how many, 0 when all {@link #MAX_SLOTS} are live
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
            // Highest first: the thread cache stacks the batch so that it hands out the highest slot first (in a
            // steady loop, the only one it uses). Entries are 32 bytes behind a 16-byte array header, so the last
            // entry of one thread's batch shares a cache line with the first (lowest) of the next thread's batch,
            // which that thread hands out last. In the other order the two threads' busiest entries could share a
            // line: 70-90 ns instead of about 25 ns per allocate + free and thread with two threads
            // (AllocFreeTwoThreadsBenchmark, 4 KiB).
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
            f.stack = java.util.Arrays.copyOf(f.stack, f.stack.length * 2);
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

    long[] chunkOfSlot(int slot) {
        return (long[]) CHUNKS.getAcquire(chunks, slot >>> CHUNK_SHIFT);
    }

    static int baseOfSlot(int slot) {
        return (slot & CHUNK_MASK) << ENTRY_SHIFT;
    }

    /**
     * Publishes a new allocation in {@code slot}: location, size and flags first, then the state (release), so a
     * reader that sees the state sees the rest.
     *
     * @return the handle
     */
    long publish(int slot, long location, long size, int flags) {
        long[] c = chunkOfSlot(slot);
        int base = baseOfSlot(slot);
        long gen = genOfState(lpState(c, base));
        c[base + LOCATION] = location;
        c[base + SIZE] = size;
        c[base + FLAGS] = flags;
        soState(c, base, gen << STATE_GEN_SHIFT);
        return handle(tag, gen, slot);
    }

    /**
     * Publishes a new allocation in a FREE {@code slot} that a thread cache holds with its block: the location is
     * in the entry already ({@link #setFreeLocation}); size and flags first, then the state (release).
     *
     * @return the handle
     */
    long publishCached(int slot, long size, int flags) {
        long[] c = chunkOfSlot(slot);
        int base = baseOfSlot(slot);
        long gen = genOfState(lpState(c, base));
        c[base + SIZE] = size;
        c[base + FLAGS] = flags;
        soState(c, base, gen << STATE_GEN_SHIFT);
        return handle(tag, gen, slot);
    }

    /** Sets the location of a FREE entry that a thread cache holds (no reader acts on a FREE entry's location). */
    void setFreeLocation(int slot, long location) {
        chunkOfSlot(slot)[baseOfSlot(slot) + LOCATION] = location;
    }

    /** @return the location a FREE entry held by a thread cache keeps */
    long freeLocation(int slot) {
        return chunkOfSlot(slot)[baseOfSlot(slot) + LOCATION];
    }

    /** @return the FREE state of the next generation after {@code state} */
    static long freedState(long state) {
        return (((genOfState(state) + 1) & GEN_MASK) << STATE_GEN_SHIFT) | FREE;
    }
}
