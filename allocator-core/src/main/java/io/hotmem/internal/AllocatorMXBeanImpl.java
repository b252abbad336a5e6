package io.hotmem.internal;

import io.hotmem.HotplugCommands;
import io.hotmem.NodeStatus;
import io.hotmem.PageAllocator;
import io.hotmem.PageAllocatorMXBean;

import java.util.List;
import java.util.Locale;
import java.util.function.LongSupplier;

/** The MXBean of one allocator: every operation is the matching {@link HotplugCommands} line. */
final class AllocatorMXBeanImpl implements PageAllocatorMXBean {
    private final PageAllocator allocator;
    private final HotplugCommands commands;
    /** The count of leaked pins, read without building a report. */
    private final LongSupplier leakedPins;

    AllocatorMXBeanImpl(PageAllocator allocator, LongSupplier leakedPins) {
        this.allocator = allocator;
        this.leakedPins = leakedPins;
        this.commands = new HotplugCommands(allocator);
    }

    @Override
    public String getStatus() {
        return allocator.status().render();
    }

    @Override
    public List<NodeStatus> getNodes() {
        return allocator.status().nodes();
    }

    @Override
    public String plug(int node) {
        return commands.execute("plug " + node);
    }

    @Override
    public String enable(int node) {
        return commands.execute("enable " + node);
    }

    @Override
    public String disable(int node) {
        return commands.execute("disable " + node);
    }

    @Override
    public String unplug(int node) {
        return commands.execute("unplug " + node);
    }

    @Override
    public String trimCaches() {
        return commands.execute("trim");
    }

    @Override
    public String remap(int zone, long timeoutMillis) {
        return commands.execute("remap " + zone + " " + seconds(timeoutMillis));
    }

    @Override
    public String compact(int zone, long timeoutMillis) {
        return commands.execute("compact " + zone + " " + seconds(timeoutMillis));
    }

    @Override
    public String getBuddyInfo() {
        return commands.execute("buddyinfo");
    }

    @Override
    public String getLeaks() {
        return commands.execute("leaks");
    }

    @Override
    public long getLeakedPins() {
        return leakedPins.getAsLong();
    }

    @Override
    public String drain(int node, long timeoutMillis) {
        return commands.execute("drain " + node + " " + seconds(timeoutMillis));
    }

    @Override
    public String offline(int node, long timeoutMillis) {
        return commands.execute("offline " + node + " " + seconds(timeoutMillis));
    }

    @Override
    public long getCapacityLimit() {
        return allocator.capacityLimit();
    }

    @Override
    public void setCapacityLimit(long bytes) {
        allocator.setCapacityLimit(bytes);
    }

    @Override
    public long getPluggedBytes() {
        return allocator.pluggedBytes();
    }

    @Override
    public boolean isElastic() {
        return allocator.isElastic();
    }

    @Override
    public void setElastic(boolean on) {
        allocator.setElastic(on);
    }

    @Override
    public String execute(String command) {
        return commands.execute(command);
    }

    /** @return {@code millis} in the seconds of a command line, checked here so that the message names millis */
    private static String seconds(long millis) {
        if (millis < 0 || millis > MAX_TIMEOUT_MILLIS) {
            throw new IllegalArgumentException("timeoutMillis " + millis + " must be from 0 to " + MAX_TIMEOUT_MILLIS
                    + " (one day)");
        }
        return String.format(Locale.ROOT, "%.3f", millis / 1000.0);
    }
}
