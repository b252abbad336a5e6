package io.hotmem.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** An allocation that no zone could serve (thrown or returned as NULL_HANDLE). */
@Name("io.hotmem.AllocationFailure")
@Label("Allocation Failure")
@Category("hotmem")
@Description("A hotmem allocation no zone could serve")
public final class AllocationFailureEvent extends Event {
    @Label("Allocator")
    public String allocator;
    @Label("Size")
    @DataAmount
    public long size;
    @Label("Flags")
    public String flags;
    @Label("Preferred Node")
    @Description("-1 for the default node")
    public int preferredNode;
    @Label("Reason")
    public String reason;
}
