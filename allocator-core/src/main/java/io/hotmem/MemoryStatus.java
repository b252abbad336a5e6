package io.hotmem;

import java.util.List;

/**
 * A snapshot of every node and zone. Each zone's counters are read together under its lock, so they are
 * consistent with each other; different zones are read one after the other.
 *
 * @param nodes          every node, in id order
 * @param pluggedBytes   the bytes of every node that is not UNPLUGGED
 * @param capacityLimit  the capacity limit ({@link PageAllocator#setCapacityLimit}), {@code Long.MAX_VALUE} for none
 * @param elastic        whether the governor plugs and offlines nodes by itself
 * @param governorReport what the capacity governor last could not do, empty when nothing is pending
 */
public record MemoryStatus(List<NodeStatus> nodes, long pluggedBytes, long capacityLimit, boolean elastic,
                           String governorReport) {

    /** Copies {@code nodes}. */
    public MemoryStatus {
        nodes = List.copyOf(nodes);
        java.util.Objects.requireNonNull(governorReport, "governorReport");
    }

    /**
     * A snapshot without a capacity limit: no limit, not elastic, plugged bytes unknown (0).
     *
     * @param nodes every node, in id order
     */
    public MemoryStatus(List<NodeStatus> nodes) {
        this(nodes, 0, Long.MAX_VALUE, false, "");
    }

    /**
     * The original {@code /proc/memhotplug} view: one header line per node, its zone lines when it is plugged,
     * a blank line between nodes, counts in pages.
     * <pre>
     * Node 0 enabled nonhotremovable
     * Normal[0]: free 250, active 940, present 4096
     *
     * Node 1 unplugged hotremovable
     * </pre>
     * With a capacity limit, elastic capacity or a governor report, a last line follows after a blank line:
     * {@code Capacity: plugged 128 MiB, limit 96 MiB, elastic} (and the governor's report, if any).
     *
     * @return the text, each line ending in a newline
     */
    public String render() {
        StringBuilder sb = new StringBuilder();
        renderNodes(sb);
        if (capacityLimit != Long.MAX_VALUE || elastic || !governorReport.isEmpty()) {
            sb.append("\nCapacity: plugged ").append(mib(pluggedBytes)).append(", limit ")
                    .append(capacityLimit == Long.MAX_VALUE ? "none" : mib(capacityLimit))
                    .append(elastic ? ", elastic" : "");
            if (!governorReport.isEmpty()) {
                sb.append(" (").append(governorReport).append(')');
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String mib(long bytes) {
        return bytes % (1 << 20) == 0 ? (bytes >> 20) + " MiB" : bytes + " bytes";
    }

    private void renderNodes(StringBuilder sb) {
        for (NodeStatus n : nodes) {
            if (!sb.isEmpty()) {
                sb.append('\n');
            }
            sb.append(n.header()).append('\n');
            for (ZoneStatus z : n.zones()) {
                sb.append(z.render()).append('\n');
            }
        }
    }

    /**
     * Linux's {@code /proc/buddyinfo} view: one line per zone of every plugged node, with the free block count of
     * each order from 0 to {@code maxOrder}, e.g.
     * <pre>
     * Node 0, zone   Normal      3      1      0      2
     * Node 1, zone  Movable     12      4      0      1
     * </pre>
     *
     * @return the text, each line ending in a newline
     */
    public String renderBuddyInfo() {
        StringBuilder sb = new StringBuilder();
        for (NodeStatus n : nodes) {
            for (ZoneStatus z : n.zones()) {
                sb.append(z.renderBuddyInfo(n.id())).append('\n');
            }
        }
        return sb.toString();
    }

    /**
     * Finds one node in this snapshot.
     *
     * @param id a node id
     * @return that node's status
     * @throws IllegalArgumentException if there is no such node
     */
    public NodeStatus node(int id) {
        if (id < 0 || id >= nodes.size()) {
            throw new IllegalArgumentException("unknown node " + id + " (nodes 0.." + (nodes.size() - 1) + ")");
        }
        return nodes.get(id);
    }

    /**
     * Finds one zone in this snapshot.
     *
     * @param id a zone id
     * @return that zone's status
     * @throws IllegalArgumentException if no plugged node has that zone
     */
    public ZoneStatus zone(int id) {
        for (NodeStatus n : nodes) {
            for (ZoneStatus z : n.zones()) {
                if (z.id() == id) {
                    return z;
                }
            }
        }
        throw new IllegalArgumentException("zone " + id + " is unknown or its node is unplugged");
    }
}
