package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeStatus;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The fragmentation benchmark's second workload, on hotmem alone: scattered survivors, then compaction, then
 * offlining. Four hot-removable nodes are filled with HOTREMOVABLE buffers of log-uniform sizes (every byte
 * written), three in four are freed at random (25% occupancy, scattered), and then:
 * <ol>
 *   <li>per zone, the largest free order, the free max-order blocks and how many max-order allocations succeed
 *       (with the allocator's own compaction off, so that nothing is compacted behind the figure);</li>
 *   <li>{@code compact} of every zone: time, blocks and bytes moved;</li>
 *   <li>the same figures after;</li>
 *   <li>how many of the nodes can then be offlined (emptiest first, each {@code offline} drains into the rest), and
 *       the RSS given back;</li>
 *   <li>every survivor verified, byte for byte, at the end.</li>
 * </ol>
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp allocator-bench/target/benchmarks.jar \
 *     io.hotmem.bench.CompactionBenchmark [--node-mib 64] [--nodes 4] [--min-kib 4] [--max-kib 64] [--keep-one-in 4]
 * </pre>
 * Exit code 1 if a survivor was damaged.
 */
public final class CompactionBenchmark {
    private CompactionBenchmark() {
    }

    /**
     * Runs the workload and prints its figures.
     *
     * @param args the options above
     */
    public static void main(String[] args) {
        long nodeMiB = 64;
        int nodes = 4;
        int minKiB = 4;
        int maxKiB = 64;
        int keepOneIn = 4;
        long seed = 12;
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : "";
            switch (args[i]) {
                case "--node-mib" -> nodeMiB = Long.parseLong(v);
                case "--nodes" -> nodes = Integer.parseInt(v);
                case "--min-kib" -> minKiB = Integer.parseInt(v);
                case "--max-kib" -> maxKiB = Integer.parseInt(v);
                case "--keep-one-in" -> keepOneIn = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
            i++;
        }
        PageAllocator.Builder b = PageAllocator.builder().name("compaction-bench").pageSize(4096).maxOrder(10)
                .compaction(false).purgeAfter(Duration.ofSeconds(1)).node(NodeSpec.fixed(16L << 20));
        for (int n = 0; n < nodes; n++) {
            b.node(NodeSpec.hotRemovable(nodeMiB << 20));
        }
        try (PageAllocator a = b.build()) {
            System.exit(run(a, nodes, minKiB, maxKiB, keepOneIn, seed) ? 0 : 1);
        }
    }

    private static boolean run(PageAllocator a, int nodes, int minKiB, int maxKiB, int keepOneIn, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<long[]> live = new ArrayList<>(); // handle, size, fill byte
        for (int node = 1; node <= nodes; node++) {
            while (true) {
                long size = (long) (minKiB * 1024.0 * Math.pow((double) maxKiB / minKiB, r.nextDouble()));
                long h = a.tryAllocate(size, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, node);
                if (h == PageAllocator.NULL_HANDLE) {
                    break;
                }
                byte fill = (byte) r.nextInt();
                try (Pin p = a.pin(h)) {
                    p.segment().fill(fill);
                }
                live.add(new long[] {h, size, fill});
            }
        }
        long filled = live.stream().mapToLong(x -> x[1]).sum();
        List<long[]> kept = new ArrayList<>();
        for (long[] x : live) {
            if (r.nextInt(keepOneIn) == 0) {
                kept.add(x);
            } else {
                a.free(x[0]);
            }
        }
        long keptBytes = kept.stream().mapToLong(x -> x[1]).sum();
        System.out.printf(Locale.ROOT, "filled %d buffers (%.1f MiB) over %d hot-removable nodes, kept %d (%.1f MiB,"
                        + " 1 in %d at random)%n", live.size(), mib(filled), nodes, kept.size(), mib(keptBytes),
                keepOneIn);
        System.out.println();
        System.out.println("before compaction:");
        int before = report(a, nodes);

        long start = System.nanoTime();
        long moved = 0;
        long movedBytes = 0;
        for (int node = 1; node <= nodes; node++) {
            for (ZoneStatus z : a.status().node(node).zones()) {
                RelocationReport rep = a.compact(z.id(), Duration.ofSeconds(30));
                moved += rep.moved();
                movedBytes += rep.movedBytes();
                System.out.println("  " + rep);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf(Locale.ROOT, "compacted %d zones: moved %d blocks (%.1f MiB) in %.0f ms (%.2f GiB/s)%n",
                nodes, moved, mib(movedBytes), seconds * 1e3, movedBytes / seconds / (1L << 30));
        System.out.println();
        System.out.println("after compaction:");
        int after = report(a, nodes);

        long rssBefore = Demo.rssBytes();
        List<NodeStatus> byUse = new ArrayList<>(a.status().nodes().subList(1, nodes + 1));
        byUse.sort(Comparator.comparingLong(n -> n.zones().stream().mapToLong(ZoneStatus::activePages).sum()));
        int offlined = 0;
        for (NodeStatus n : byUse) {
            long used = a.status().node(n.id()).zones().stream().mapToLong(ZoneStatus::activePages).sum();
            long freeElsewhere = a.status().nodes().stream().filter(o -> o.id() != n.id())
                    .flatMap(o -> o.zones().stream()).mapToLong(ZoneStatus::freePages).sum();
            if (used > freeElsewhere) {
                System.out.printf(Locale.ROOT, "  node %d keeps %.1f MiB: more than the %.1f MiB free elsewhere%n",
                        n.id(), mib(used * a.pageSize()), mib(freeElsewhere * a.pageSize()));
                break;
            }
            RelocationReport rep = a.offline(n.id(), Duration.ofSeconds(30));
            System.out.println("  " + rep);
            if (!rep.complete()) {
                break;
            }
            offlined++;
        }
        long rssAfter = Demo.rssBytes();
        System.out.printf(Locale.ROOT, "offlined %d of %d hot-removable nodes; RSS %.0f -> %.0f MiB%n", offlined,
                nodes, mib(rssBefore), mib(rssAfter));

        long damaged = 0;
        for (long[] x : kept) {
            try (Pin p = a.pin(x[0])) {
                MemorySegment s = p.segment();
                for (long off = 0; off < x[1]; off++) {
                    if (s.get(ValueLayout.JAVA_BYTE, off) != (byte) x[2]) {
                        damaged++;
                        break;
                    }
                }
            }
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "| | before compaction | after compaction |%n|---|---|---|%n"
                + "| max-order (4 MiB) allocations that succeed | %d | %d |%n", before, after);
        System.out.println(damaged == 0 ? "every survivor verified, byte for byte"
                : damaged + " survivors DAMAGED");
        a.checkInvariants();
        return damaged == 0;
    }

    /**
     * Prints each node's largest free order and free max-order blocks, then counts the max-order allocations that
     * succeed on it (and frees them).
     *
     * @return the max-order allocations that succeeded over all nodes
     */
    private static int report(PageAllocator a, int nodes) {
        int total = 0;
        for (int node = 1; node <= nodes; node++) {
            ZoneStatus z = a.status().node(node).zones().getFirst();
            List<Long> got = new ArrayList<>();
            while (true) {
                long h = a.tryAllocate(a.maxAllocationBytes(), AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, node);
                if (h == PageAllocator.NULL_HANDLE) {
                    break;
                }
                got.add(h);
            }
            got.forEach(a::free);
            total += got.size();
            System.out.printf(Locale.ROOT, "  node %d: %.0f%% used, largest free order %d, free max-order blocks %d,"
                            + " max-order allocations that succeed %d%n", node,
                    100.0 * z.activePages() / z.presentPages(), z.largestFreeOrder(),
                    z.freeBlocks().get(a.maxOrder()), got.size());
        }
        return total;
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024);
    }
}
