package io.hotmem;

/**
 * One zone in a {@link MemoryStatus} snapshot. Counts are in pages; {@code freePages + activePages ==
 * presentPages} in every snapshot.
 *
 * <p>{@code cachedPages} and {@code purgedPages} are parts of {@code freePages}: free pages held in threads'
 * caches (free for their threads at once, given back on {@link PageAllocator#trimCaches()}, disable, drain, or
 * after a while idle), and free pages whose memory went back to the operating system (they are used again at once,
 * and read as zero). The resident free pages are {@code freePages - purgedPages}. The cached count is sampled
 * without stopping the threads that own the caches, so while they allocate it is approximate; the other
 * counters are read together under the zone's lock.
 *
 * @param id           the zone's global id
 * @param type         NORMAL or MOVABLE
 * @param freePages    pages in free blocks, including cached and purged ones
 * @param activePages  pages in allocated blocks
 * @param presentPages pages the zone manages
 * @param cachedPages  free pages in thread caches
 * @param purgedPages  free pages returned to the operating system
 */
public record ZoneStatus(int id, ZoneType type, long freePages, long activePages, long presentPages,
                         long cachedPages, long purgedPages) {

    /**
     * Returns the zone's line in the status view, e.g.
     * {@code Movable[1]: free 336, active 9287, present 83968, cached 16, purged 200}.
     *
     * @return the zone's line in the status view
     */
    public String render() {
        return type.label() + "[" + id + "]: free " + freePages + ", active " + activePages
                + ", present " + presentPages + ", cached " + cachedPages + ", purged " + purgedPages;
    }
}
