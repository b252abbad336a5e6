package io.hotmem;

/**
 * One zone in a {@link MemoryStatus} snapshot. Counts are in pages; {@code freePages + activePages ==
 * presentPages} in every snapshot.
 *
 * @param id           the zone's global id
 * @param type         NORMAL or MOVABLE
 * @param freePages    pages in free blocks
 * @param activePages  pages in allocated blocks
 * @param presentPages pages the zone manages
 */
public record ZoneStatus(int id, ZoneType type, long freePages, long activePages, long presentPages) {

    /**
     * Returns the zone's line in the status view, e.g. {@code Movable[1]: free 336, active 9287, present 83968}.
     *
     * @return the zone's line in the status view, e.g. {@code Movable[1]: free 336, active 9287, present 83968}
     */
    public String render() {
        return type.label() + "[" + id + "]: free " + freePages + ", active " + activePages
                + ", present " + presentPages;
    }
}
