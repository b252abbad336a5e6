package io.hotmem;

import java.util.List;

/**
 * One node in a {@link MemoryStatus} snapshot.
 *
 * @param id           the node id
 * @param state        UNPLUGGED, DISABLED or ENABLED
 * @param hotRemovable whether the node is hot-removable
 * @param zones        the node's zones in id order; empty while the node is unplugged
 */
public record NodeStatus(int id, NodeState state, boolean hotRemovable, List<ZoneStatus> zones) {

    /** Copies {@code zones}. */
    public NodeStatus {
        zones = List.copyOf(zones);
    }

    /**
     * Returns the node's header line, e.g. {@code Node 1 disabled hotremovable}.
     *
     * @return the node's header line, e.g. {@code Node 1 disabled hotremovable}
     */
    public String header() {
        return "Node " + id + " " + state.label() + " " + (hotRemovable ? "hotremovable" : "nonhotremovable");
    }
}
