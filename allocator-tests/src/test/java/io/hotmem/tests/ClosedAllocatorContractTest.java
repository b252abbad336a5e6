package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugListener;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * After {@link PageAllocator#close()}: {@code name()}, {@code pageSize()}, {@code maxOrder()} and
 * {@code maxAllocationBytes()} keep returning what they returned before, {@code toString()} keeps working (and
 * naming the allocator); {@code close()}
 * does nothing; every other method, {@code addListener} and {@code removeListener} included, throws
 * {@link IllegalStateException}, whatever the (plausible) arguments.
 */
class ClosedAllocatorContractTest {

    /** Methods that keep working after close, by signature. */
    private static final Set<String> KEEP_WORKING = Set.of("name()", "pageSize()", "maxOrder()",
            "maxAllocationBytes()", "close()");

    private static String signature(Method m) {
        return m.getName() + Arrays.stream(m.getParameterTypes()).map(Class::getSimpleName)
                .collect(Collectors.joining(", ", "(", ")"));
    }

    @Test
    void everyMethodButTheConfigurationGettersThrowsIllegalStateAfterClose() {
        PageAllocator a = PageAllocator.builder().name("shut").pageSize(8192).maxOrder(5)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4L << 20))                        // node 0: Normal[0]
                .node(NodeSpec.hotRemovable(2L << 20))                 // node 1: Movable[1]
                .node(NodeSpec.hotRemovable(2L << 20).startUnplugged()) // node 2: Movable[2]
                .build();
        HotplugListener added = new HotplugListener() {
        };
        a.addListener(added);
        long fixed = a.allocate(8192, AllocFlags.NONE);
        long movable = a.allocate(8192, AllocFlags.HOTREMOVABLE, 1);
        String before = a.toString();
        assertTrue(before.contains("shut"), before);
        a.close();

        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64);
            Map<String, Executable> calls = new LinkedHashMap<>();
            calls.put("allocate(long, int)", () -> a.allocate(4096, AllocFlags.NONE));
            calls.put("allocate(long, int, int)", () -> a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
            calls.put("tryAllocate(long, int, int)", () -> a.tryAllocate(4096, AllocFlags.ZERO, 0));
            calls.put("free(long)", () -> a.free(fixed));
            calls.put("sizeOf(long)", () -> a.sizeOf(fixed));
            calls.put("nodeOf(long)", () -> a.nodeOf(movable));
            calls.put("zoneOf(long)", () -> a.zoneOf(movable));
            calls.put("isMovable(long)", () -> a.isMovable(movable));
            calls.put("getLong(long, long)", () -> a.getLong(movable, 0));
            calls.put("setLong(long, long, long)", () -> a.setLong(movable, 0, 1));
            calls.put("getInt(long, long)", () -> a.getInt(fixed, 4));
            calls.put("setInt(long, long, int)", () -> a.setInt(fixed, 4, 1));
            calls.put("getByte(long, long)", () -> a.getByte(fixed, 1));
            calls.put("setByte(long, long, byte)", () -> a.setByte(fixed, 1, (byte) 1));
            calls.put("copyFrom(MemorySegment, long, long, long, long)", () -> a.copyFrom(buf, 0, movable, 0, 64));
            calls.put("copyTo(long, long, MemorySegment, long, long)", () -> a.copyTo(movable, 0, buf, 0, 64));
            calls.put("read(long, Function)", () -> a.read(movable, seg -> seg.get(ValueLayout.JAVA_LONG, 0)));
            calls.put("setCapacityLimit(long)", () -> a.setCapacityLimit(Long.MAX_VALUE));
            calls.put("capacityLimit()", a::capacityLimit);
            calls.put("pluggedBytes()", a::pluggedBytes);
            calls.put("setElastic(boolean)", () -> a.setElastic(true));
            calls.put("isElastic()", a::isElastic);
            calls.put("readAsLong(long, ToLongFunction)", () -> a.readAsLong(movable, seg -> 1L));
            calls.put("readAsLong(long, long, long, ToLongFunction)", () -> a.readAsLong(movable, 0, 8,
                    seg -> seg.get(ValueLayout.JAVA_LONG, 0)));
            calls.put("pin(long)", () -> {
                try (Pin p = a.pin(movable)) {
                    p.getLong(0);
                }
            });
            calls.put("segment(long)", () -> a.segment(fixed));
            calls.put("plug(int)", () -> a.plug(2));
            calls.put("enable(int)", () -> a.enable(2));
            calls.put("disable(int)", () -> a.disable(1));
            calls.put("unplug(int)", () -> a.unplug(1));
            calls.put("addNode(NodeSpec)", () -> a.addNode(NodeSpec.hotRemovable(1L << 20)));
            calls.put("nodeCount()", a::nodeCount);
            calls.put("status()", a::status);
            calls.put("checkInvariants()", a::checkInvariants);
            calls.put("remap(int, Duration)", () -> a.remap(1, Duration.ofMillis(10)));
            calls.put("compact(int, Duration)", () -> a.compact(1, Duration.ofMillis(10)));
            calls.put("leaks()", a::leaks);
            calls.put("drain(int, Duration)", () -> a.drain(1, Duration.ofMillis(10)));
            calls.put("drain(int, int, Duration)", () -> a.drain(1, 0, Duration.ofMillis(10)));
            calls.put("offline(int, Duration)", () -> a.offline(1, Duration.ofMillis(10)));
            calls.put("pinLongTerm(long)", () -> {
                try (Pin p = a.pinLongTerm(movable)) {
                    p.getLong(0);
                }
            });
            calls.put("addListener(HotplugListener)", () -> a.addListener(new HotplugListener() {
            }));
            calls.put("removeListener(HotplugListener)", () -> a.removeListener(added));
            calls.put("trimCaches()", a::trimCaches);

            // This test must call every public method of PageAllocator.
            Set<String> declared = new TreeSet<>();
            for (Method m : PageAllocator.class.getMethods()) {
                if (!Modifier.isStatic(m.getModifiers()) && m.getDeclaringClass() == PageAllocator.class) {
                    declared.add(signature(m));
                }
            }
            Set<String> covered = new TreeSet<>(calls.keySet());
            covered.addAll(KEEP_WORKING);
            assertEquals(declared, covered, "the calls below must cover PageAllocator's methods");

            List<String> wrong = new ArrayList<>();
            for (Map.Entry<String, Executable> e : calls.entrySet()) {
                try {
                    e.getValue().execute();
                    wrong.add(e.getKey() + " returned normally");
                } catch (IllegalStateException expected) {
                    // closed
                } catch (Throwable t) {
                    wrong.add(e.getKey() + " threw " + t);
                }
            }
            assertTrue(wrong.isEmpty(), () -> "after close(), these did not throw IllegalStateException:\n  "
                    + String.join("\n  ", wrong));
        }

        assertEquals("shut", a.name());
        assertEquals(8192, a.pageSize());
        assertEquals(5, a.maxOrder());
        assertEquals(8192L << 5, a.maxAllocationBytes());
        String after = a.toString(); // may say that it is closed, but names the allocator as before
        assertTrue(after.contains("shut"), () -> "toString() after close: " + after + " (before: " + before + ")");
        a.close(); // a second close does nothing
    }

    /** After close, even bad arguments get IllegalStateException: the allocator is closed comes first. */
    @Test
    void badArgumentsToAClosedAllocatorStillGetIllegalState() {
        PageAllocator a = PageAllocator.builder().name("closed-args").backgroundThread(false)
                .node(NodeSpec.fixed(4L << 20)).node(NodeSpec.hotRemovable(4L << 20)).build();
        a.close();
        Map<String, Executable> calls = new LinkedHashMap<>();
        calls.put("remap(0, null)", () -> a.remap(0, null));
        calls.put("remap(0, -1 s)", () -> a.remap(0, Duration.ofSeconds(-1)));
        calls.put("compact(0, null)", () -> a.compact(0, null));
        calls.put("compact(-1, 1 s)", () -> a.compact(-1, Duration.ofSeconds(1)));
        calls.put("drain(1, null)", () -> a.drain(1, null));
        calls.put("drain(1, -1, 1 s)", () -> a.drain(1, -1, Duration.ofSeconds(1)));
        calls.put("offline(1, null)", () -> a.offline(1, null));
        calls.put("addNode(null)", () -> a.addNode(null));
        calls.put("plug(-1)", () -> a.plug(-1));
        calls.put("enable(99)", () -> a.enable(99));
        calls.put("allocate(-1, 0, 0)", () -> a.allocate(-1, 0, 0));
        calls.put("allocate(1, -1)", () -> a.allocate(1, -1));
        calls.put("free(0)", () -> a.free(0));
        for (Map.Entry<String, Executable> c : calls.entrySet()) {
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    c.getValue(), c.getKey());
            assertTrue(e.getMessage().contains("closed"), c.getKey() + ": " + e.getMessage());
        }
    }

    /**
     * close() completes while a pinned segment is inside a blocking I/O call (which keeps its arena acquired, so
     * that memory cannot be unmapped yet): the allocator is closed all the same, and a second close returns.
     */
    @Test
    void closeCompletesWhileAPinnedSegmentIsInBlockingIo() throws Exception {
        PageAllocator a = PageAllocator.builder().name("closed-io").backgroundThread(false)
                .node(NodeSpec.fixed(8L << 20)).node(NodeSpec.hotRemovable(8L << 20)).build();
        long h = a.allocate(1 << 20, AllocFlags.HOTREMOVABLE, 1);
        Pin pin = a.pinLongTerm(h);
        try (BlockedInIo io = BlockedInIo.segmentOf(pin)) {
            a.close();
            a.close();
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, a::status);
        }
    }
}
