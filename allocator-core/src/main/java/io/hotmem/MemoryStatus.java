package io.hotmem;

import java.util.List;

/**
 * A snapshot of every node and zone. Each zone's counters are read together under its lock, so they are
 * consistent with each other; different zones are read one after the other.
 *
 * @param nodes every node, in id order
 */
public record MemoryStatus(List<NodeStatus> nodes) {

    /** Copies {@code nodes}. */
    public MemoryStatus {
        nodes = List.copyOf(nodes);
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
     *
     * @return the text, each line ending in a newline
     */
    public String render() {
        StringBuilder sb = new StringBuilder();
        for (NodeStatus n : nodes) {
            if (!sb.isEmpty()) {
                sb.append('\n');
            }
            sb.append(n.header()).append('\n');
            for (ZoneStatus z : n.zones()) {
                sb.append(z.render()).append('\n');
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
