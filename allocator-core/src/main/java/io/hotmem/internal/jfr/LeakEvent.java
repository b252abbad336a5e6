package io.hotmem.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** A leak found by leak detection: a pin that became unreachable while open, or allocations live at close. */
@Name("io.hotmem.Leak")
@Label("Leak")
@Category("hotmem")
@Description("A tracked pin found unreachable without close(), or tracked allocations still live at close, with "
        + "the place that made them")
public final class LeakEvent extends Event {
    @Label("Allocator")
    public String allocator;
    @Label("Kind")
    @Description("leaked pin, or live at close")
    public String kind;
    @Label("Handle")
    @Description("The pinned handle (0 for allocations live at close)")
    public long handle;
    @Label("Bytes")
    @DataAmount
    public long bytes;
    @Label("Site")
    @Description("The frames that made the pin or the allocations")
    public String site;

    /** Commits one event, if the event is enabled. */
    public static void emit(String allocator, String kind, long handle, long bytes, String site) {
        LeakEvent e = new LeakEvent();
        if (e.isEnabled()) {
            e.allocator = allocator;
            e.kind = kind;
            e.handle = handle;
            e.bytes = bytes;
            e.site = site;
            e.commit();
        }
    }
}
