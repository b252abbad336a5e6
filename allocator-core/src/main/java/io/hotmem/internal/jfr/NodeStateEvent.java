package io.hotmem.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** A node changed state: plugged, enabled, disabled or unplugged. */
@Name("io.hotmem.NodeState")
@Label("Node State Change")
@Category("hotmem")
@Description("A hotmem node changed state")
public final class NodeStateEvent extends Event {
    @Label("Allocator")
    public String allocator;
    @Label("Node")
    public int node;
    @Label("From")
    public String from;
    @Label("To")
    public String to;

    /** Commits one event if the event type is enabled. */
    public static void emit(String allocator, int node, String from, String to) {
        NodeStateEvent e = new NodeStateEvent();
        if (e.isEnabled()) {
            e.allocator = allocator;
            e.node = node;
            e.from = from;
            e.to = to;
            e.commit();
        }
    }
}
