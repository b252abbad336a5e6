package io.hotmem.internal;

import io.hotmem.ZoneType;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Adversarial review of ee21453 (resident free limit applied per free) and e57641e (leak record sweeps). */
class FixesReviewDefectTest {

    /**
     * Installs, on the java.util.logging logger "io.hotmem" (where System.getLogger("io.hotmem") goes), a filter
     * that throws: a failing log handler or appender (full disk, broken socket). Reflective: the test module does not
     * read java.logging. Returns a Runnable that removes it (and holds the logger strongly meanwhile).
     */
    static Runnable failingLogging() throws Exception {
        Class<?> loggerClass = Class.forName("java.util.logging.Logger");
        Class<?> filterClass = Class.forName("java.util.logging.Filter");
        Object logger = loggerClass.getMethod("getLogger", String.class).invoke(null, "io.hotmem");
        Object filter = Proxy.newProxyInstance(filterClass.getClassLoader(), new Class<?>[] {filterClass},
                (proxy, m, args) -> {
                    if (m.getName().equals("isLoggable")) {
                        throw new IllegalStateException("log handler failed");
                    }
                    return m.getName().equals("hashCode") ? 0 : m.getName().equals("equals") ? proxy == args[0]
                            : "failing filter";
                });
        Method setFilter = loggerClass.getMethod("setFilter", filterClass);
        setFilter.invoke(logger, filter);
        return () -> {
            try {
                setFilter.invoke(logger, (Object) null);
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        };
    }

    /**
     * ee21453 documents "a free never fails for it" (Builder#residentFreeLimit): a failed release turns the limit
     * off. But the warning is logged inside freeLocked, under the zone lock, outside any guard: a log handler that
     * throws makes the free throw. When the free is one of a batch (a thread cache spill or reclaim, which
     * then freed block by block, the relocator's frees of moved blocks) the blocks after it are never given back: they stay
     * counted active in the zone forever (the cache and the table have already let them go).
     */
    @Test
    void aThrowingLogHandlerOnTheLimitsWarningDoesNotLoseTheRestOfABatchOfFrees() throws Exception {
        int pages = 4096; // 16 MiB of 4 KiB pages: the 4 MiB floor is 1,024 pages
        TestZones.RecordingRange range = new TestZones.RecordingRange((long) pages << 12, 12);
        range.failing = true;
        Zone z = TestZones.plugged(ZoneType.MOVABLE, pages, 12, 10, 0.0, range);
        int n = 8;
        int[] cached = new int[n];
        for (int i = 0; i < n; i++) {
            cached[i] = z.allocateLocked(8, i + 1, true); // 1 MiB blocks, as a cache would hold them
        }
        int big = z.allocateLocked(10, 100, true);
        z.freeLocked(big); // 1,024 resident free pages: at the floor, nothing released
        assertEquals(0, range.releases);
        Runnable restore = failingLogging();
        try {
            try {
                z.freeAllLocked(cached, 0, n); // the first block takes the zone over the floor: release fails
            } catch (RuntimeException e) {
                z.checkLocked();
                fail("returning " + n + " cached blocks threw after " + range.releases + " failed release(s) ("
                        + e + "): " + (pages - z.freePagesLocked()) + " pages stay counted active with nothing live"
                        + " (a free never fails for the limit, says Builder#residentFreeLimit)");
            }
        } finally {
            restore.run();
        }
        z.checkLocked();
        assertEquals(pages, z.freePagesLocked(), "every block was given back");
    }

    /**
     * Cost of ee21453's loop: one free makes as many madvise calls as it takes to get back within the budget, under
     * the zone lock. The budget falls with the freed pages times the fraction, and the blocks the loop returns after
     * the freed one are whatever resident blocks are left, single pages where the data is fragmented: with limit 0.9
     * and 36,864 single free pages kept within it, the free of one 4 MiB block makes 923 system calls (measured
     * 5-27 ms holding the zone lock on the review VM), where 64fc5dd made one. Every allocation and free of the zone
     * waits behind it.
     */
    @Test
    void oneFreeDoesNotMakeHundredsOfReleasesUnderTheZoneLock() {
        TestZones.FreeSinglesNearTheLimit f = TestZones.FreeSinglesNearTheLimit.build();
        Zone z = f.zone();
        TestZones.RecordingRange range = f.range();
        int[] big = f.big();
        assertEquals(0, range.releases, "within the limit");
        long t = System.nanoTime();
        z.freeLocked(big[0]);
        long micros = (System.nanoTime() - t) / 1000;
        z.checkLocked();
        int releases = range.releases;
        org.junit.jupiter.api.Assertions.assertTrue(releases <= 16, "the free of one 4 MiB block made " + releases
                + " releases (madvise calls) holding the zone lock for " + micros + " us");
    }
}
