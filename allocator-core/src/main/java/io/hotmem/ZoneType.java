package io.hotmem;

/** The kind of a zone: which allocations it may hold. */
public enum ZoneType {
    /** Any allocation. */
    NORMAL("Normal"),
    /** Only {@link AllocFlags#HOTREMOVABLE} allocations, so that the zone can always be emptied by moving them. */
    MOVABLE("Movable");

    private final String label;

    ZoneType(String label) {
        this.label = label;
    }

    /**
     * Returns the name used by the status view: {@code Normal} or {@code Movable}.
     *
     * @return the name used by the status view: {@code Normal} or {@code Movable}
     */
    public String label() {
        return label;
    }
}
