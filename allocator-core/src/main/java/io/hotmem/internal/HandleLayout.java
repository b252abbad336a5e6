package io.hotmem.internal;

/**
 * The bit layouts of a handle, of a handle-table entry's state and location words, and of an entry: the constants
 * (each derived from the one before it) and tiny static encoders and decoders. No logic: the protocol that runs
 * on these words is {@link HandleProtocol}; the table that holds them is {@link HandleTable}.
 *
 * <h2>Handle (64 bits)</h2>
 * <pre>
 *  63        52 51                           24 23                       0
 *  tttttttttttt gggggggggggggggggggggggggggg ssssssssssssssssssssssss
 *  t: allocator tag (12 bits, never 0, so 0 is never a handle): unique among live allocators ({@link HandleTags})
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
 * <h2>Location word (64 bits)</h2>
 * <pre>
 *  63             48 47                                              0
 *  zzzzzzzzzzzzzzzz  page index of the block's head in the allocator's address range (48 bits)
 *  z: the block's zone id (16 bits)
 * </pre>
 * The block's memory is at byte {@code page << pageShift} of the range ({@link #byteOffsetOfLocation}): one mask
 * and one shift from the location word to the address, whatever the zone.
 *
 * <h2>Entry (4 longs)</h2>
 * {@link #STATE}, {@link #LOCATION}, {@link #SIZE} (the bytes requested) and {@link #FLAGS} (the allocation
 * flags, {@code io.hotmem.AllocFlags} in bits 0..29, and {@link #FLAG_TRACKED} in bit 30, never shown to users), at {@code base(handle) + word} in the handle's chunk of {@link #CHUNK_SLOTS} entries.
 */
final class HandleLayout {
    private HandleLayout() {
    }

    // ---------------------------------------------------------------------------------------------- handle

    static final int SLOT_BITS = 24;
    static final int GEN_BITS = 28;
    static final int TAG_BITS = 64 - GEN_BITS - SLOT_BITS;
    static final int GEN_SHIFT = SLOT_BITS;
    static final int TAG_SHIFT = GEN_SHIFT + GEN_BITS;
    static final long SLOT_MASK = (1L << SLOT_BITS) - 1;
    static final long GEN_MASK = (1L << GEN_BITS) - 1;
    static final int TAG_MASK = (1 << TAG_BITS) - 1;
    static final int MAX_SLOTS = 1 << SLOT_BITS;

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

    // ---------------------------------------------------------------------------------------------- state word

    static final int PIN_BITS = 16;
    static final long PINS_MASK = (1L << PIN_BITS) - 1;

    static {
        if (PINS_MASK != io.hotmem.PageAllocator.MAX_PINS) {
            throw new ExceptionInInitializerError("PageAllocator.MAX_PINS must be the pin field's largest value, "
                    + PINS_MASK);
        }
    }
    static final long MOVING = 1L << PIN_BITS;
    static final long FREE = MOVING << 1;
    static final int VERSION_SHIFT = PIN_BITS + 2;
    static final int VERSION_BITS = 18;
    static final long VERSION_MASK = ((1L << VERSION_BITS) - 1) << VERSION_SHIFT;
    static final long VERSION_ONE = 1L << VERSION_SHIFT;
    static final int STATE_GEN_SHIFT = VERSION_SHIFT + VERSION_BITS;
    static final long STATE_GEN_MASK = GEN_MASK << STATE_GEN_SHIFT;
    /** The bits an optimistic read validates: generation, version and FREE (never pins or MOVING). */
    static final long VALIDATE_MASK = STATE_GEN_MASK | VERSION_MASK | FREE;

    static long genOfState(long state) {
        return (state >>> STATE_GEN_SHIFT) & GEN_MASK;
    }

    static int pinsOf(long state) {
        return (int) (state & PINS_MASK);
    }

    /** @return the FREE state of generation {@code gen} (version 0, no pin) */
    static long freeState(long gen) {
        return ((gen & GEN_MASK) << STATE_GEN_SHIFT) | FREE;
    }

    /** @return the live state of generation {@code gen}: version 0, no pin, neither FREE nor MOVING */
    static long liveState(long gen) {
        return (gen & GEN_MASK) << STATE_GEN_SHIFT;
    }

    /** @return the FREE state of the next generation after {@code state} (the generation wraps in its field) */
    static long freedState(long state) {
        return freeState(genOfState(state) + 1);
    }

    /** @return the state after a completed move: same generation, version + 1 (wrapping), no pins, not MOVING */
    static long nextVersion(long state) {
        return (state & STATE_GEN_MASK) | ((state & VERSION_MASK) + VERSION_ONE & VERSION_MASK);
    }

    /** @return true when {@code state} belongs to a live allocation named by {@code handle} */
    static boolean isLive(long state, long handle) {
        // One test for both (FREE clear, same generation): on every optimistic read.
        return ((state ^ stateGenOfHandle(handle)) & (STATE_GEN_MASK | FREE)) == 0;
    }

    /**
     * @return the handle's generation where a state word holds it: its bits above the generation (the tag) are
     *     shifted out, those below (the slot) are shifted off
     */
    static long stateGenOfHandle(long handle) {
        return handle >>> GEN_SHIFT << STATE_GEN_SHIFT;
    }

    /** @return true when {@code state} is live for {@code handle}, with no pin and no move: a free may CAS it */
    static boolean isFreeable(long state, long handle) {
        return (state & ~VERSION_MASK) == stateGenOfHandle(handle);
    }

    // ---------------------------------------------------------------------------------------------- location

    static final int LOC_ZONE_SHIFT = 48;
    static final long LOC_PAGE_MASK = (1L << LOC_ZONE_SHIFT) - 1;
    /** Zone ids a location can name. */
    static final int MAX_ZONES = 1 << (64 - LOC_ZONE_SHIFT);

    /** @param rangePage the page index of the block's head in the allocator's range (see {@link Zone#location}) */
    static long location(int zoneId, long rangePage) {
        return ((long) zoneId << LOC_ZONE_SHIFT) | rangePage;
    }

    static int zoneOfLocation(long loc) {
        return (int) (loc >>> LOC_ZONE_SHIFT);
    }

    /** @return the page index of the block's head in the allocator's range */
    static long pageOfLocation(long loc) {
        return loc & LOC_PAGE_MASK;
    }

    /** @return the byte offset of the block's head in the allocator's range */
    static long byteOffsetOfLocation(long loc, int pageShift) {
        return (loc & LOC_PAGE_MASK) << pageShift;
    }

    // ---------------------------------------------------------------------------------------------- entry

    static final int ENTRY_SHIFT = 2;
    static final int STATE = 0;
    static final int LOCATION = 1;
    static final int SIZE = 2;
    static final int FLAGS = 3;
    /** In the flags word: leak detection tracks the allocation ({@link LeakDetector}). */
    static final int FLAG_TRACKED = 1 << 30;

    /**
     * Slots per chunk: 8,192 (256 KiB of entries, under half a 1 MiB G1 region, so never a humongous object). The
     * first chunk is also read through a field of its own ({@link HandleTable#chunk}), so that for the first 8,192
     * slots no load that depends on the handle comes before the entry's.
     */
    static final int CHUNK_SHIFT = 13;
    static final int CHUNK_SLOTS = 1 << CHUNK_SHIFT;
    static final int CHUNK_MASK = CHUNK_SLOTS - 1;

    /** @return the index of the handle's state word in its chunk */
    static int base(long handle) {
        return (int) (handle & CHUNK_MASK) << ENTRY_SHIFT;
    }

    /** @return the index of the slot's state word in its chunk */
    static int baseOfSlot(int slot) {
        return (slot & CHUNK_MASK) << ENTRY_SHIFT;
    }

    /**
     * The bits of a handle that say which table and which chunk it names: its tag and chunk index. A handle of
     * chunk 0 of the table with tag {@code t} has exactly {@code t << TAG_SHIFT} there, whatever its generation and
     * its slot in the chunk.
     */
    static final long TAG_AND_CHUNK_MASK = ((long) TAG_MASK << TAG_SHIFT) | (SLOT_MASK & ~(long) CHUNK_MASK);

    /** @return the index of the slot's chunk */
    static int chunkIndex(long slot) {
        return (int) ((slot & SLOT_MASK) >>> CHUNK_SHIFT);
    }

    /** Slots never used before are handed out {@code 2^SPREAD_SHIFT} apart within a chunk ({@link #slotOfUse}). */
    static final int SPREAD_SHIFT = 2;

    /**
     * The slot that the {@code k}-th first use of a slot takes: within each chunk, uses go to slots 0, 4, 8, ..., then
     * 1, 5, 9, ..., so that two slots used for the first time one after the other (typically by two threads' caches,
     * one each) are four entries (128 bytes) apart, and their entries never share a cache line whatever the chunk
     * array's alignment. Consecutive slots would be 32 bytes apart: with two threads each freeing and allocating its
     * own slot in a loop, every second JVM run (the array's alignment decides) put both entries on one line, 110-130
     * ns per allocate + free and thread against 35-40 (64 KiB, two threads, 2 vCPU AMD EPYC). A bijection on each
     * chunk. Not spread: uses {@code k} and {@code k + CHUNK_SLOTS / 4} (neighbouring slots, 2,048 first uses
     * apart), the last use of a chunk and the first of the next (two arrays), and slots handed out again from the
     * free stack, in the order they were given back.
     *
     * @param k how many slots were used before, below {@link #MAX_SLOTS}
     */
    static int slotOfUse(int k) {
        int inChunk = k & CHUNK_MASK;
        return (k & ~CHUNK_MASK) | ((inChunk << SPREAD_SHIFT) & CHUNK_MASK) | (inChunk >>> (CHUNK_SHIFT - SPREAD_SHIFT));
    }
}
