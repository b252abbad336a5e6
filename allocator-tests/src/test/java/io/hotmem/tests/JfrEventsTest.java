package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** JFR events with the right fields: node state changes, relocations, allocation failures. */
class JfrEventsTest {
    @Test
    void eventsAreRecorded(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("hotmem.jfr");
        try (Recording rec = new Recording()) {
            rec.enable("io.hotmem.NodeState");
            rec.enable("io.hotmem.Relocation");
            rec.enable("io.hotmem.AllocationFailure");
            rec.start();
            try (PageAllocator a = PageAllocator.builder().name("jfr-test").maxOrder(4)
                    .node(NodeSpec.fixed(1L << 20))
                    .node(NodeSpec.hotRemovable(1L << 20))
                    .build()) {
                long h = a.allocate(8192, AllocFlags.HOTREMOVABLE, 1);
                long p = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
                a.disable(1);
                try (Pin ignored = a.pin(p)) {
                    a.drain(1, Duration.ofMillis(20)); // h moves to node 0, p stays pinned
                }
                a.free(p);
                a.free(h);
                for (int i = 0; i < 16; i++) {
                    a.allocate(64 * 1024, AllocFlags.NONE, 0); // node 0 full
                }
                assertEquals(PageAllocator.NULL_HANDLE, a.tryAllocate(64 * 1024, AllocFlags.ZERO, 0));
            }
            rec.stop();
            rec.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        List<RecordedEvent> states = events.stream()
                .filter(e -> e.getEventType().getName().equals("io.hotmem.NodeState")).toList();
        assertTrue(states.stream().anyMatch(e -> e.getInt("node") == 1 && e.getString("from").equals("enabled")
                && e.getString("to").equals("disabled") && e.getString("allocator").equals("jfr-test")), states
                .toString());
        assertTrue(states.stream().anyMatch(e -> e.getString("from").equals("unplugged")
                && e.getString("to").equals("disabled")), "plug events");

        RecordedEvent drain = events.stream().filter(e -> e.getEventType().getName().equals("io.hotmem.Relocation"))
                .findFirst().orElseThrow();
        assertEquals("drain node 1", drain.getString("operation"));
        assertFalse(drain.getBoolean("complete"));
        assertEquals(1, drain.getLong("movedBlocks"));
        assertEquals(8192, drain.getLong("movedBytes"));
        assertEquals(1, drain.getLong("remainingBlocks"));
        assertEquals("PINNED=1 TIMED_OUT=1", drain.getString("failures"));
        assertTrue(drain.getDuration().compareTo(Duration.ofMillis(20)) >= 0, drain.getDuration().toString());

        RecordedEvent failure = events.stream()
                .filter(e -> e.getEventType().getName().equals("io.hotmem.AllocationFailure")).findFirst()
                .orElseThrow();
        assertEquals(65536, failure.getLong("size"));
        assertEquals("ZERO", failure.getString("flags"));
        assertEquals(0, failure.getInt("preferredNode"));
        assertEquals("jfr-test", failure.getString("allocator"));
    }
}
