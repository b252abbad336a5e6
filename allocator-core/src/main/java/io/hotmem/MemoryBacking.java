package io.hotmem;

/** Where a node's memory comes from. */
public enum MemoryBacking {
    /** {@link #MMAP} on Linux, {@link #ARENA} elsewhere. */
    AUTO,
    /**
     * Anonymous {@code mmap} with {@code MAP_NORESERVE} (Linux only): memory is committed on first touch, so
     * plugging a large node is cheap, and unplugging unmaps it.
     */
    MMAP,
    /** {@code Arena.ofShared().allocate}: zero-filled and fully resident from the moment the node is plugged. */
    ARENA
}
