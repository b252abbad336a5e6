package io.hotmem.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** One remap, drain or offline, from start (the event's start time) to end (its duration). */
@Name("io.hotmem.Relocation")
@Label("Relocation")
@Category("hotmem")
@Description("A remap, drain or offline of hotmem memory")
public final class RelocationEvent extends Event {
    @Label("Allocator")
    public String allocator;
    @Label("Operation")
    public String operation;
    @Label("Complete")
    public boolean complete;
    @Label("Moved Blocks")
    public long movedBlocks;
    @Label("Moved Bytes")
    @DataAmount
    public long movedBytes;
    @Label("Remaining Blocks")
    public long remainingBlocks;
    @Label("Failures")
    @Description("Failure reasons with counts, e.g. PINNED=1 TIMED_OUT=1; empty when complete")
    public String failures;
}
