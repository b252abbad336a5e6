package io.hotmem;

import java.util.List;
import java.util.Locale;

/**
 * One zone in a {@link MemoryStatus} snapshot. Counts are in pages; {@code freePages + activePages ==
 * presentPages} in every snapshot.
 *
 * <p>{@code cachedPages} and {@code purgedPages} are parts of {@code freePages}: free pages held in threads'
 * caches (free for their threads at once, given back on {@link PageAllocator#trimCaches()}, disable, drain, or
 * after a while idle), and free pages whose memory went back to the operating system (they are used again at once,
 * and read as zero). The resident free pages are at most {@code freePages - purgedPages}: a cached block is never
 * counted purged, though its memory may not have been touched yet (a cache can hold never-used memory). The cached
 * count is sampled
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
 * @param freeBlocks   the free blocks in the zone's buddy lists for each order, from 0 to the allocator's
 *                     {@code maxOrder} (Linux {@code /proc/buddyinfo}; thread-cached blocks are not among them);
 *                     empty when not known
 */
public record ZoneStatus(int id, ZoneType type, long freePages, long activePages, long presentPages,
                         long cachedPages, long purgedPages, List<Integer> freeBlocks) {

    /** Copies {@code freeBlocks}. */
    public ZoneStatus {
        freeBlocks = List.copyOf(freeBlocks);
    }

    /**
     * A snapshot without the per-order counts ({@link #freeBlocks()} empty).
     *
     * @param id           the zone's global id
     * @param type         NORMAL or MOVABLE
     * @param freePages    pages in free blocks, including cached and purged ones
     * @param activePages  pages in allocated blocks
     * @param presentPages pages the zone manages
     * @param cachedPages  free pages in thread caches
     * @param purgedPages  free pages returned to the operating system
     */
    public ZoneStatus(int id, ZoneType type, long freePages, long activePages, long presentPages, long cachedPages,
                      long purgedPages) {
        this(id, type, freePages, activePages, presentPages, cachedPages, purgedPages, List.of());
    }

    /**
     * Returns the largest order with a free block in the buddy lists.
     *
     * @return the largest order with a free block, or -1 when there is none (or the counts are not known)
     */
    public int largestFreeOrder() {
        for (int k = freeBlocks.size() - 1; k >= 0; k--) {
            if (freeBlocks.get(k) > 0) {
                return k;
            }
        }
        return -1;
    }

    /**
     * Returns the zone's line in Linux's {@code /proc/buddyinfo} format: the node, the zone's type and the free
     * block count of each order, each followed by a blank, e.g. {@code "Node 1, zone  Movable     12      4      0 "}.
     *
     * @param node the zone's node id
     * @return the line, without a newline
     */
    public String renderBuddyInfo(int node) {
        // Byte for byte Linux's (mm/vmstat.c frag_show_print): every field is followed by a blank.
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "Node %d, zone %8s ", node, type.label()));
        for (int count : freeBlocks) {
            sb.append(String.format(Locale.ROOT, "%6d ", count));
        }
        return sb.toString();
    }

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
