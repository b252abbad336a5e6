package io.hotmem;

/** The state of a node, as in the original {@code /proc/memhotplug} view. */
public enum NodeState {
    /** No memory behind the node: it holds no allocation and hands out no block. */
    UNPLUGGED,
    /** Memory is plugged, but the node hands out no new block. Live allocations stay usable. */
    DISABLED,
    /** Plugged and serving allocations. */
    ENABLED;

    /**
     * Returns the lower-case name used by the status view and the commands.
     *
     * @return the lower-case name used by the status view and the commands
     */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
