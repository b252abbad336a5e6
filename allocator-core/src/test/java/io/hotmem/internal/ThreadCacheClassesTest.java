package io.hotmem.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The size classes of thread caches: one per run length up to 16 pages, then one per whole block. */
class ThreadCacheClassesTest {
    @ParameterizedTest(name = "orders {0} -> {1} classes")
    @CsvSource({"0, 0", "1, 1", "2, 2", "3, 4", "5, 16", "6, 17", "11, 22"})
    void classCountFollowsTheLargestOrder(int orders, int classes) {
        assertEquals(classes, ThreadCache.classCount(orders));
    }

    @ParameterizedTest(name = "run {0} of {1} classes -> class {2}")
    @CsvSource({"1, 16, 0", "3, 16, 2", "16, 16, 15", "17, 22, -1", "32, 22, 16", "64, 22, 17", "1024, 22, 21",
            "2048, 22, -1", "32, 16, -1", "5, 4, -1", "4, 4, 3"})
    void classOfARun(int run, int classes, int c) {
        assertEquals(c, ThreadCache.classOf(run, classes));
    }

    @Test
    void everyClassMapsBackToItsRun() {
        for (int c = 0; c < ThreadCache.classCount(21); c++) {
            assertEquals(c, ThreadCache.classOf(ThreadCache.pagesOfClass(c), ThreadCache.classCount(21)),
                    "class " + c);
        }
    }
}
