package io.hotmem;

import java.util.List;

/**
 * The JMX view of a {@link PageAllocator}, registered by {@code PageAllocator.builder().jmx(true)} as
 * {@code io.hotmem:type=PageAllocator,name=<name>} in the platform MBean server and unregistered on close.
 * Usable from JConsole, or from another process over a JMX connector. Operations return the text
 * {@link HotplugCommands} would print and throw as it does.
 */
public interface PageAllocatorMXBean {

    /** @return the status view, as {@link MemoryStatus#render()} */
    String getStatus();

    /** @return every node with its state and zone counts */
    List<NodeStatus> getNodes();

    /** @param node a node id @return a confirmation */
    String plug(int node);

    /** @param node a node id @return a confirmation */
    String enable(int node);

    /** @param node a node id @return a confirmation */
    String disable(int node);

    /** @param node a node id @return a confirmation */
    String unplug(int node);

    /** @param zone a zone id @param timeoutMillis deadline @return the relocation report */
    String remap(int zone, long timeoutMillis);

    /** @param node a DISABLED node @param timeoutMillis deadline @return the relocation report */
    String drain(int node, long timeoutMillis);

    /** @param node a hot-removable node @param timeoutMillis deadline @return the relocation report */
    String offline(int node, long timeoutMillis);

    /** @param command a {@link HotplugCommands} line @return its output */
    String execute(String command);
}
