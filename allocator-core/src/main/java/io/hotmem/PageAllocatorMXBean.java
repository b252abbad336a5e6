package io.hotmem;

import java.util.List;

/**
 * The JMX view of a {@link PageAllocator}, registered by {@code PageAllocator.builder().jmx(true)} as
 * {@code io.hotmem:type=PageAllocator,name=<name>} in the platform MBean server and unregistered on close.
 * Usable from JConsole, or from another process over a JMX connector. Operations return the text
 * {@link HotplugCommands} would print and throw as it does.
 */
public interface PageAllocatorMXBean {
    /** The longest deadline that remap, compact, drain and offline take: one day, as {@link HotplugCommands}. */
    long MAX_TIMEOUT_MILLIS = 86_400_000L;

    /**
     * Returns the status view, as {@link MemoryStatus#render()}.
     *
     * @return the status view, as {@link MemoryStatus#render()}
     */
    String getStatus();

    /**
     * Returns every node with its state and zone counts.
     *
     * @return every node with its state and zone counts
     */
    List<NodeStatus> getNodes();

    /**
     * Returns a confirmation.
     *
     * @param node a node id
     * @return a confirmation
     */
    String plug(int node);

    /**
     * Returns a confirmation.
     *
     * @param node a node id
     * @return a confirmation
     */
    String enable(int node);

    /**
     * Returns a confirmation.
     *
     * @param node a node id
     * @return a confirmation
     */
    String disable(int node);

    /**
     * Returns a confirmation.
     *
     * @param node a node id
     * @return a confirmation
     */
    String unplug(int node);

    /**
     * Returns the relocation report.
     *
     * @param zone a zone id
     * @param timeoutMillis the deadline in milliseconds, from 0 to {@value #MAX_TIMEOUT_MILLIS} (one day, the
     *                      longest deadline {@link HotplugCommands} takes)
     * @return the relocation report
     * @throws IllegalArgumentException if {@code timeoutMillis} is out of that range (nothing is done)
     */
    String remap(int zone, long timeoutMillis);

    /**
     * Compacts one zone of an ENABLED node ({@link PageAllocator#compact}) and returns the report.
     *
     * @param zone a zone id
     * @param timeoutMillis the deadline in milliseconds, from 0 to {@value #MAX_TIMEOUT_MILLIS} (one day, the
     *                      longest deadline {@link HotplugCommands} takes)
     * @return the compaction report
     * @throws IllegalArgumentException if {@code timeoutMillis} is out of that range (nothing is done)
     */
    String compact(int zone, long timeoutMillis);

    /**
     * Returns the free blocks per order of every plugged zone, in Linux's {@code /proc/buddyinfo} format.
     *
     * @return one line per plugged zone
     */
    String getBuddyInfo();

    /**
     * Returns the leak report ({@link PageAllocator#leaks()}) as the {@code leaks} command prints it: tracked live
     * allocations and leaked pins by site.
     *
     * @return the rendered report
     */
    String getLeaks();

    /**
     * Returns the number of tracked pins found unreachable without close since the allocator was built.
     *
     * @return the leaked pins found so far
     */
    long getLeakedPins();

    /**
     * Returns the relocation report.
     *
     * @param node a DISABLED node
     * @param timeoutMillis the deadline in milliseconds, from 0 to {@value #MAX_TIMEOUT_MILLIS} (one day, the
     *                      longest deadline {@link HotplugCommands} takes)
     * @return the relocation report
     * @throws IllegalArgumentException if {@code timeoutMillis} is out of that range (nothing is done)
     */
    String drain(int node, long timeoutMillis);

    /**
     * Returns the relocation report.
     *
     * @param node a hot-removable node
     * @param timeoutMillis the deadline in milliseconds, from 0 to {@value #MAX_TIMEOUT_MILLIS} (one day, the
     *                      longest deadline {@link HotplugCommands} takes)
     * @return the relocation report
     * @throws IllegalArgumentException if {@code timeoutMillis} is out of that range (nothing is done)
     */
    String offline(int node, long timeoutMillis);

    /**
     * Gives threads' cached free blocks back to their zones ({@link PageAllocator#trimCaches()}).
     *
     * @return what the {@code trim} command prints
     */
    String trimCaches();

    /**
     * Returns the capacity limit.
     *
     * @return {@link PageAllocator#capacityLimit()} ({@code Long.MAX_VALUE}: none)
     */
    long getCapacityLimit();

    /**
     * Sets the capacity limit ({@link PageAllocator#setCapacityLimit}).
     *
     * @param bytes the limit, {@code Long.MAX_VALUE} for none
     */
    void setCapacityLimit(long bytes);

    /**
     * Returns the plugged bytes.
     *
     * @return {@link PageAllocator#pluggedBytes()}
     */
    long getPluggedBytes();

    /**
     * Returns whether capacity is elastic.
     *
     * @return {@link PageAllocator#isElastic()}
     */
    boolean isElastic();

    /**
     * Turns elastic capacity on or off ({@link PageAllocator#setElastic}).
     *
     * @param on whether the governor plugs and offlines nodes by itself
     */
    void setElastic(boolean on);

    /**
     * Returns its output.
     *
     * @param command a {@link HotplugCommands} line
     * @return its output
     */
    String execute(String command);
}
