package io.hotmem.internal.prim;

import io.hotmem.MemoryBacking;

import java.lang.foreign.MemorySegment;

/**
 * One node's memory region. The segment is bound to a shared arena: after {@link #close()} every access to it
 * (from any thread) throws {@link IllegalStateException}, never touches unmapped memory.
 */
public interface Backing extends AutoCloseable {

    /** @return the whole region, aligned to the allocator's page size */
    MemorySegment segment();

    /**
     * Tells the OS that {@code [offset, offset + bytes)} is unused: its pages may be taken back and read as zero
     * afterwards. A no-op where the backing cannot do it.
     *
     * @param offset page-aligned offset in the region
     * @param bytes  page-aligned length
     */
    void release(long offset, long bytes);

    /** @return whether {@link #release} really gives memory back (false where it is a no-op) */
    boolean canRelease();

    /** Returns the memory to the OS. Waits until no thread is inside an access to it. */
    @Override
    void close();

    /**
     * Maps a region.
     *
     * @param kind  which backing; AUTO means MMAP on Linux and ARENA elsewhere
     * @param bytes the region's size
     * @param align the region's alignment (the page size)
     * @return the region
     * @throws IllegalStateException if the memory cannot be had, or MMAP is asked for where it is not available
     */
    static Backing allocate(MemoryBacking kind, long bytes, long align) {
        return switch (kind) {
            case AUTO -> MmapBacking.AVAILABLE ? new MmapBacking(bytes, align) : new ArenaBacking(bytes, align);
            case MMAP -> {
                if (!MmapBacking.AVAILABLE) {
                    throw new IllegalStateException("MMAP backing needs Linux; this is "
                            + System.getProperty("os.name") + " (use AUTO or ARENA)");
                }
                yield new MmapBacking(bytes, align);
            }
            case ARENA -> new ArenaBacking(bytes, align);
        };
    }
}
