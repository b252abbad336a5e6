package io.hotmem.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** One compaction of one zone, from start (the event's start time) to end (its duration). */
@Name("io.hotmem.Compaction")
@Label("Compaction")
@Category("hotmem")
@Description("Live blocks of one zone moved towards its end so that free pages merge into large blocks")
public final class CompactionEvent extends Event {
    @Label("Allocator")
    public String allocator;
    @Label("Zone")
    public int zone;
    @Label("Trigger")
    @Description("command (compact), direct (a failing allocation) or background (the agent)")
    public String trigger;
    @Label("Complete")
    public boolean complete;
    @Label("Moved Blocks")
    public long movedBlocks;
    @Label("Moved Bytes")
    @DataAmount
    public long movedBytes;
    @Label("Largest Free Order Before")
    public int largestFreeOrderBefore;
    @Label("Largest Free Order After")
    public int largestFreeOrderAfter;
    @Label("Failures")
    @Description("Why blocks below the meeting point stayed, with counts, e.g. PINNED=1 UNMOVABLE=3")
    public String failures;
}
