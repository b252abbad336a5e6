package io.hotmem.tests;

import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.lang.ref.WeakReference;
import java.lang.reflect.Method;

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

    private static boolean collected(WeakReference<?> ref) throws InterruptedException {
        for (int i = 0; i < 50 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        return ref.get() == null;
    }

    /**
     * At SAMPLED a free now leaves its tracked allocation's record, and with it the record's site, a
     * {@code Throwable} whose backtrace keeps the class mirror of every frame (HotSpot keeps them so the classes stay
     * loaded while the backtrace lives): a class loader whose code allocated and freed stays reachable from the
     * allocator until a sweep, which only comes when tracked allocations have doubled the records (at least 1,024
     * of them: about 4 million more allocations) or someone asks for a report. Before c6612ed the free removed the
     * record and the loader could go at once. The plugin here allocates and frees 40,000 blocks (at least 4
     * tracked: a thread cache tracks one in at most 8,192), none left live.
     */
    @Test
    void aClassLoaderThatFreedEverythingItAllocatedIsNotKeptReachableByLeakDetection() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("review-sweep-loader").maxOrder(6)
                .leakDetection(LeakDetection.SAMPLED).jmx(false)
                .node(NodeSpec.fixed(8L << 20)).build()) {
            WeakReference<ClassLoader> ref = runPlugin(a, 40_000);
            boolean gone = collected(ref);
            boolean goneAfterReport = gone;
            if (!gone) {
                a.leaks(); // removes the freed records it meets
                goneAfterReport = collected(ref);
            }
            assertTrue(gone, "a plugin class loader that freed every allocation it made stays reachable after "
                    + "GC (collected once leaks() removed the freed records: " + goneAfterReport + ")");
        }
    }
}
