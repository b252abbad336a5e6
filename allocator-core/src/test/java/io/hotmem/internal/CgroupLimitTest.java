package io.hotmem.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading a cgroup v2 directory: limits, garbage, the process's own cgroup, and the pressure signal. */
class CgroupLimitTest {

    @Test
    void theLimitIsTheSmallerOfMaxAndHighAndMaxMeansNone(@TempDir Path cg) throws IOException {
        CgroupLimit c = new CgroupLimit(cg, 0);
        assertEquals(Long.MAX_VALUE, c.cgroupBytes(), "no files: no limit");
        Files.writeString(cg.resolve("memory.max"), "max\n");
        assertEquals(Long.MAX_VALUE, c.cgroupBytes());
        Files.writeString(cg.resolve("memory.max"), "1073741824\n");
        assertEquals(1L << 30, c.cgroupBytes());
        Files.writeString(cg.resolve("memory.high"), "536870912");
        assertEquals(1L << 29, c.cgroupBytes());
        assertEquals(1L << 29, new CgroupLimit(cg, 0).cgroupBytes(), "stable across instances");
        assertTrue(c.limitFor(Long.MAX_VALUE / 4) <= (1L << 29), "never more than the cgroup's");
        for (String bad : new String[]{"-5", "12 apples", "", "0x10", "99999999999999999999"}) {
            Files.writeString(cg.resolve("memory.high"), bad);
            IllegalStateException e = assertThrows(IllegalStateException.class, c::cgroupBytes, bad);
            assertTrue(e.getMessage().contains("memory.high"), e.getMessage());
        }
    }

    @Test
    void theProcessCgroupIsTheUnifiedLineUnderTheRoot(@TempDir Path dir) throws IOException {
        Path proc = dir.resolve("cgroup");
        Files.writeString(proc, "4:memory:/v1/path\n0::/kubepods/pod1/ctr\n");
        assertEquals(dir.resolve("kubepods/pod1/ctr"), CgroupLimit.ownCgroup(dir, proc));
        Files.writeString(proc, "0::/\n");
        assertEquals(dir, CgroupLimit.ownCgroup(dir, proc));
        Files.writeString(proc, "4:memory:/only/v1\n");
        assertThrows(IllegalStateException.class, () -> CgroupLimit.ownCgroup(dir, proc));
    }

    @Test
    void pressureIsARiseOfTheEventCounters(@TempDir Path cg) throws IOException {
        CgroupLimit c = new CgroupLimit(cg, 0);
        Files.writeString(cg.resolve("memory.events"), "low 0\nhigh 3\nmax 1\noom 0\noom_kill 0\n");
        boolean first = c.pressureRose(); // the first read is a baseline (the system's PSI may still say yes)
        Files.writeString(cg.resolve("memory.events"), "low 9\nhigh 3\nmax 1\noom 0\noom_kill 0\n");
        boolean lowOnly = c.pressureRose();
        Files.writeString(cg.resolve("memory.events"), "low 9\nhigh 4\nmax 1\noom 0\noom_kill 0\n");
        assertTrue(c.pressureRose(), "high went up");
        if (!Files.isReadable(Path.of("/proc/pressure/memory"))) {
            assertFalse(first, "a baseline is no rise");
            assertFalse(lowOnly, "'low' is not pressure on this cgroup's limit");
        }
        Files.writeString(cg.resolve("memory.events"), "garbage");
        c.pressureRose(); // no exception
    }
}
