package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.RelocationReport;
import io.hotmem.internal.jfr.AllocationFailureEvent;
import io.hotmem.internal.jfr.NodeStateEvent;
import io.hotmem.internal.jfr.RelocationEvent;

import javax.management.InstanceAlreadyExistsException;
import javax.management.JMException;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * What the allocator tells the outside besides its return values: the {@code io.hotmem} logger, the JFR events
 * ({@code io.hotmem.NodeState}, {@code io.hotmem.Relocation}, {@code io.hotmem.AllocationFailure}) and the MXBean.
 * One place for each, so that every path that does a thing reports it the same way: a node transition made by
 * close is logged and recorded like one made by an operator.
 */
final class Telemetry {
    static final System.Logger LOG = System.getLogger("io.hotmem");

    private final String name;
    /** The registered MXBean's name, or null. */
    private volatile ObjectName mbeanName;

    Telemetry(String name) {
        this.name = name;
    }

    /** One node transition: a log line and a JFR event. */
    void nodeState(int node, NodeState from, NodeState to, String detail) {
        NodeStateEvent.emit(name, node, from.label(), to.label());
        LOG.log(System.Logger.Level.INFO, "{0}: node {1} {2}{3}", name, node, verb(to, from), detail);
    }

    private static String verb(NodeState to, NodeState from) {
        return switch (to) {
            case UNPLUGGED -> "unplugged";
            case ENABLED -> "enabled";
            case DISABLED -> from == NodeState.UNPLUGGED ? "plugged" : "disabled";
        };
    }

    /** @return a started JFR event for a relocation; {@link #relocated} commits it */
    static RelocationEvent relocationStarted() {
        RelocationEvent event = new RelocationEvent();
        event.begin();
        return event;
    }

    /** One relocation (remap, drain or offline) ended: the JFR event and a log line. */
    void relocated(RelocationEvent event, RelocationReport r) {
        if (event.shouldCommit()) {
            event.allocator = name;
            event.operation = r.operation();
            event.complete = r.complete();
            event.movedBlocks = r.moved();
            event.movedBytes = r.movedBytes();
            event.remainingBlocks = r.remaining();
            event.failures = r.failures().entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" "));
            event.commit();
        }
        LOG.log(r.complete() ? System.Logger.Level.INFO : System.Logger.Level.WARNING, "{0}: {1}", name, r);
    }

    /** An allocation failed (returned NULL_HANDLE or is about to throw): the JFR event. */
    void allocationFailed(long bytes, int flags, int preferredNode, String reason) {
        AllocationFailureEvent event = new AllocationFailureEvent();
        if (event.isEnabled()) {
            event.allocator = name;
            event.size = bytes;
            event.flags = AllocFlags.toString(flags);
            event.preferredNode = preferredNode;
            event.reason = reason;
            event.commit();
        }
    }

    /**
     * Registers the MXBean of {@code allocator} as {@code io.hotmem:type=PageAllocator,name=<name>}, its
     * {@code LeakedPins} attribute read from {@code leakedPins}.
     *
     * @throws IllegalStateException if an MBean of that name is registered already
     */
    void registerMBean(PageAllocator allocator, LongSupplier leakedPins) {
        ObjectName on = mbeanName(name);
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(new AllocatorMXBeanImpl(allocator, leakedPins), on);
        } catch (InstanceAlreadyExistsException e) {
            throw new IllegalStateException("an MBean named " + on + " is registered already: give this allocator "
                    + "another name", e);
        } catch (JMException e) {
            throw new IllegalStateException("cannot register MBean " + on + ": " + e, e);
        }
        mbeanName = on;
    }

    /** Unregisters the MXBean, if one was registered (close). */
    void unregisterMBean() {
        ObjectName on = mbeanName;
        mbeanName = null;
        if (on != null) {
            try {
                ManagementFactory.getPlatformMBeanServer().unregisterMBean(on);
            } catch (JMException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot unregister MBean " + on, e);
            }
        }
    }

    /**
     * @return {@code io.hotmem:type=PageAllocator,name=<name>}; a name with any character outside
     *         {@code [A-Za-z0-9._-]} is quoted, so that it can never add keys or patterns to the object name
     */
    static ObjectName mbeanName(String name) {
        String value = name.matches("[A-Za-z0-9._-]+") ? name : ObjectName.quote(name);
        try {
            return new ObjectName("io.hotmem:type=PageAllocator,name=" + value);
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException("allocator name '" + name + "' cannot name an MBean", e);
        }
    }
}
