package io.hotmem.internal;

import java.util.BitSet;

/**
 * Hands out allocator tags (the top 12 bits of every handle, see {@link HandleLayout}) so that no two live
 * allocators of one JVM share a tag: a handle of one can never be taken for a handle of another.
 *
 * <p>A tag is leased when an allocator is built and released when it is closed. Tags are handed out round-robin
 * over the free ones, so a released tag is reused as late as possible. At most {@link #MAX_LIVE} allocators can be
 * open at once; one more is refused with {@link IllegalStateException} (an allocator that is dropped without
 * {@code close()} keeps its tag, as it keeps its memory).
 *
 * <p>What remains: a handle of a <em>closed</em> allocator whose tag was reused. Each lease also gives the
 * generation that every slot of the new table starts at, spread over the 28-bit generation field by Fibonacci
 * hashing of the lease count, so such a handle matches a live entry of the new allocator only if the two
 * starting generations, advanced by each slot's frees, meet: not for the first 2^28 / (leases since) frees of a
 * slot, in practice never.
 */
final class HandleTags {
    /** Most allocators open at once: every non-zero 12-bit tag. */
    static final int MAX_LIVE = HandleLayout.TAG_MASK;

    private static final Object LOCK = new Object();
    /** Guarded by {@link #LOCK}: the tags of open allocators. */
    private static final BitSet LIVE = new BitSet(MAX_LIVE + 1);
    /** Guarded by {@link #LOCK}: where the next search for a free tag starts (1..MAX_LIVE). */
    private static int next = 1;
    /** Guarded by {@link #LOCK}: leases handed out so far. */
    private static long leases;

    private HandleTags() {
    }

    /** A leased tag and the generation every slot of its table starts at. */
    record Lease(long tag, long firstGeneration) {
    }

    /**
     * @return a tag no open allocator has
     * @throws IllegalStateException if {@link #MAX_LIVE} allocators are open
     */
    static Lease acquire() {
        synchronized (LOCK) {
            int tag = LIVE.nextClearBit(next);
            if (tag > MAX_LIVE) {
                tag = LIVE.nextClearBit(1);
            }
            if (tag > MAX_LIVE) {
                throw new IllegalStateException(MAX_LIVE + " allocators are open at once, the most whose handles "
                        + "hotmem can tell apart: close one before building another");
            }
            LIVE.set(tag);
            next = tag == MAX_LIVE ? 1 : tag + 1;
            long gen = ((leases++ * 0x9E3779B97F4A7C15L) >>> (64 - HandleLayout.GEN_BITS)) & HandleLayout.GEN_MASK;
            return new Lease(tag, gen);
        }
    }

    /** Gives a tag back (at close). Releasing a tag twice does nothing the second time. */
    static void release(long tag) {
        synchronized (LOCK) {
            LIVE.clear((int) tag);
        }
    }

    /** @return how many tags are leased now (for tests) */
    static int liveCount() {
        synchronized (LOCK) {
            return LIVE.cardinality();
        }
    }
}
