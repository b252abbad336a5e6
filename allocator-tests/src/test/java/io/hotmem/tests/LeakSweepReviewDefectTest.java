package io.hotmem.tests;

import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.lang.ref.WeakReference;
import java.lang.reflect.Method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Review of c6612ed ("SAMPLED: a free leaves its tracked allocation's record ..."), from outside.
 */
class LeakSweepReviewDefectTest {

    /** Code of a "plugin": defined again in a class loader of its own by the test. */
    public static final class Plugin {
        private Plugin() {
        }

        /** Allocates and frees {@code n} small blocks, one at a time: nothing it made stays live. */
        public static void churn(PageAllocator a, int n) {
            for (int i = 0; i < n; i++) {
                a.free(a.allocate(4096, 0));
            }
        }
    }

    /** A loader that defines {@link Plugin} itself (everything else from its parent). */
    private static final class PluginLoader extends ClassLoader {
        PluginLoader(ClassLoader parent) {
            super("plugin", parent);
        }

        Class<?> definePlugin() throws Exception {
            String name = Plugin.class.getName();
            byte[] b;
            try (InputStream in = LeakSweepReviewDefectTest.class.getResourceAsStream(
                    "/" + name.replace('.', '/') + ".class")) {
                b = in.readAllBytes();
            }
            return defineClass(name, b, 0, b.length);
        }
    }

    /** Makes a plugin loader, runs its churn on {@code a} and forgets everything of it but a weak reference. */
    private static WeakReference<ClassLoader> runPlugin(PageAllocator a, int n) throws Exception {
        PluginLoader loader = new PluginLoader(LeakSweepReviewDefectTest.class.getClassLoader());
        Class<?> plugin = loader.definePlugin();
        assertTrue(plugin != Plugin.class && plugin.getClassLoader() == loader);
        Method churn = plugin.getMethod("churn", PageAllocator.class, int.class);
        churn.invoke(null, a, n);
        return new WeakReference<>(loader);
    }

    /** Polls GC for up to 5 s: the agent sweeps freed records once a round (a second with the default delay). */
    private static boolean collected(WeakReference<?> ref) throws InterruptedException {
        for (int i = 0; i < 250 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        return ref.get() == null;
    }

    /**
     * At SAMPLED a free leaves its tracked allocation's record, and with it the record's site, a {@code Throwable}
     * whose backtrace keeps the class mirror of every frame: a class loader whose code allocated and freed stayed
     * reachable from the allocator until a sweep (the review's finding: only a doubling of the records, about 4
     * million more allocations, or a report swept). The agent now sweeps every round, so the loader goes within
     * one. The plugin allocates and frees 40,000 blocks (at least 4 tracked: a thread cache tracks one in at most
     * 8,192), none left live.
     */
    @Test
    void aClassLoaderThatFreedEverythingItAllocatedIsNotKeptReachableByLeakDetection() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("review-sweep-loader").maxOrder(6)
                .leakDetection(LeakDetection.SAMPLED).jmx(false)
                .node(NodeSpec.fixed(8L << 20)).build()) {
            WeakReference<ClassLoader> ref = runPlugin(a, 40_000);
            assertTrue(collected(ref), "a plugin class loader that freed every allocation it made stays reachable "
                    + "after GC and 5 s of agent rounds");
        }
    }

    /** Without the agent, a report sweeps: the loader goes after {@code leaks()}. */
    @Test
    void withoutTheAgentAReportLetsTheClassLoaderGo() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("review-sweep-noagent").maxOrder(6)
                .leakDetection(LeakDetection.SAMPLED).jmx(false).backgroundThread(false)
                .node(NodeSpec.fixed(8L << 20)).build()) {
            WeakReference<ClassLoader> ref = runPlugin(a, 40_000);
            assertEquals(0, a.leaks().liveAllocations().size());
            assertTrue(collected(ref), "the loader stays reachable after a report swept the freed records");
        }
    }
}
