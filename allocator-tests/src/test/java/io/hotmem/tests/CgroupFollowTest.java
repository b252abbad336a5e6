package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The capacity limit following a cgroup v2 directory that the test writes: limits that change during the run,
 * {@code memory.high} below {@code memory.max}, a cgroup that leaves less than the data needs, and garbage in the
 * files (which changes nothing).
 */
class CgroupFollowTest {
    private static final long MIB = 1 << 20;
    private static final long NODE = 8 * MIB;

    private static void await(String what, BooleanSupplier done, PageAllocator a) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + "\n" + a.status().render());
            }
            Thread.sleep(20);
        }
    }

    private static void write(Path dir, String file, String text) throws IOException {
        Path tmp = dir.resolve(file + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, dir.resolve(file), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void theLimitFollowsTheCgroupDownAndUpAndIgnoresGarbage(@TempDir Path cg) throws Exception {
        write(cg, "memory.max", "max\n");
        PageAllocator.Builder b = PageAllocator.builder().name("cgroup").maxOrder(6)
                .purgeAfter(Duration.ofMillis(40)).followCgroup(cg, 0).node(NodeSpec.fixed(NODE));
        for (int i = 0; i < 4; i++) {
            b.node(NodeSpec.hotRemovable(NODE));
        }
        try (PageAllocator a = b.build()) {
            long h = a.allocate(64 * 1024, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 3);
            a.setLong(h, 8, 0x5EED);
            Thread.sleep(300);
            assertEquals(Long.MAX_VALUE, a.capacityLimit(), "'max': no limit");
            assertEquals(5 * NODE, a.pluggedBytes());

            // A cgroup far above what the process uses leaves a limit above what is plugged: nothing goes.
            write(cg, "memory.max", String.valueOf(64L << 30));
            await("a finite limit", () -> a.capacityLimit() != Long.MAX_VALUE, a);
            assertTrue(a.capacityLimit() > 5 * NODE, "limit " + a.capacityLimit());
            assertEquals(5 * NODE, a.pluggedBytes());

            // memory.high counts too, and one byte leaves less than the data needs: the limit is held at the fixed
            // node plus the data, so every removable node but one goes (the 64 KiB block moves or stays).
            write(cg, "memory.high", "1");
            await("the shrink", () -> a.pluggedBytes() <= 2 * NODE, a);
            await("the report", () -> a.status().governorReport().contains("the cgroup leaves"), a);
            assertEquals(0x5EED, a.getLong(h, 8));
            assertEquals(NodeState.ENABLED, a.status().node(0).state(), "a fixed node is never offlined");
            a.checkInvariants();

            // Garbage changes nothing and is reported.
            long before = a.capacityLimit();
            write(cg, "memory.high", "12 apples\n");
            await("the report", () -> a.status().governorReport().contains("12 apples"), a);
            assertEquals(before, a.capacityLimit());

            // Back to no limit: nodes may come back.
            write(cg, "memory.high", "max");
            write(cg, "memory.max", "max");
            await("no limit", () -> a.capacityLimit() == Long.MAX_VALUE, a);
            for (int n = 1; n <= 4; n++) {
                if (a.status().node(n).state() == NodeState.UNPLUGGED) {
                    a.plug(n);
                    a.enable(n);
                }
            }
            assertEquals(5 * NODE, a.pluggedBytes());
            assertEquals(0x5EED, a.getLong(h, 8));
        }
    }

    @Test
    void followingACgroupNeedsTheAgentAndANonNegativeReserve(@TempDir Path cg) {
        assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().followCgroup(cg, -1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder()
                .backgroundThread(false).followCgroup(cg, 0).node(NodeSpec.fixed(NODE)).build());
        assertTrue(e.getMessage().contains("background"), e.getMessage());
    }
}
