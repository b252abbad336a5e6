package io.hotmem.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A cgroup v2 memory limit to follow: {@code min(memory.max, memory.high)} of one cgroup directory, turned into a
 * capacity limit for the allocator: the cgroup's limit minus what the rest of the process uses (its RSS minus the
 * allocator's resident memory) minus a reserve. Read by the {@link Governor} on the background agent, at most every
 * {@link #PERIOD_NANOS}. A file that cannot be read or parsed changes nothing and is reported.
 *
 * <p><b>Pressure.</b> {@link #pressureRose} says whether the cgroup's {@code memory.events} counters {@code high},
 * {@code max} or {@code oom} went up since the last call, or {@code /proc/pressure/memory}'s {@code some avg10} is
 * at least {@link #PRESSURE_AVG10}: the governor then shrinks an elastic allocator without waiting out its
 * hysteresis.
 */
final class CgroupLimit {
    /** How often the files are read at most. */
    static final long PERIOD_NANOS = 100_000_000L;
    /** The share of time (percent, last 10 s) some task stalled on memory that counts as pressure. */
    static final double PRESSURE_AVG10 = 10.0;
    private final Path psi = Path.of("/proc/pressure/memory");
    private long lastEvents = -1;

    private final Path dir;
    private final long reserve;
    private final Path procStatus;

    /**
     * @param dir     the cgroup's directory (holding {@code memory.max}), or null for the process's own under
     *                {@code /sys/fs/cgroup}
     * @param reserve bytes kept out of the limit for the rest of the process to grow
     */
    CgroupLimit(Path dir, long reserve) {
        this.dir = dir != null ? dir : ownCgroup(Path.of("/sys/fs/cgroup"), Path.of("/proc/self/cgroup"));
        this.reserve = reserve;
        this.procStatus = Path.of("/proc/self/status");
    }

    /** @return the directory of the process's cgroup v2 (the {@code 0::/path} line of {@code /proc/self/cgroup}) */
    static Path ownCgroup(Path root, Path procCgroup) {
        try {
            for (String line : Files.readAllLines(procCgroup, StandardCharsets.UTF_8)) {
                if (line.startsWith("0::")) {
                    String rel = line.substring(3);
                    return rel.equals("/") ? root : root.resolve(rel.substring(1));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + procCgroup + " to find the process's cgroup: " + e, e);
        }
        throw new IllegalStateException(procCgroup + " has no cgroup v2 line (0::/...): is cgroup v2 mounted?");
    }

    Path dir() {
        return dir;
    }

    /**
     * @return the cgroup's limit: {@code min(memory.max, memory.high)}, {@code Long.MAX_VALUE} where both say
     *         {@code max} or are absent
     * @throws IllegalStateException naming the file and what it holds, when it is not a limit
     */
    long cgroupBytes() {
        return Math.min(read("memory.max"), read("memory.high"));
    }

    /**
     * @param hotmemResident the allocator's resident bytes (touched and not given back)
     * @return the capacity limit the cgroup leaves the allocator, {@code Long.MAX_VALUE} for none (never negative)
     */
    long limitFor(long hotmemResident) {
        long cg = cgroupBytes();
        if (cg == Long.MAX_VALUE) {
            return Long.MAX_VALUE;
        }
        long rest = Math.max(0, processRss() - hotmemResident);
        long left = cg - rest;
        return left <= reserve ? 0 : left - reserve;
    }

    private long read(String file) {
        Path p = dir.resolve(file);
        if (!Files.exists(p)) {
            return Long.MAX_VALUE;
        }
        String text;
        try {
            text = Files.readString(p, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + p + ": " + e, e);
        }
        if (text.equals("max")) {
            return Long.MAX_VALUE;
        }
        try {
            long v = Long.parseLong(text);
            if (v < 0) {
                throw new NumberFormatException("negative");
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalStateException(p + " holds '" + (text.length() > 40 ? text.substring(0, 40) + "..." : text)
                    + "', not a number of bytes or 'max'");
        }
    }

    /** @return whether the cgroup or the system reports memory pressure since the last call (see the class doc) */
    boolean pressureRose() {
        boolean rose = false;
        Path events = dir.resolve("memory.events");
        if (Files.isRegularFile(events)) {
            long sum = 0;
            try {
                for (String line : Files.readAllLines(events, StandardCharsets.UTF_8)) {
                    String[] w = line.strip().split("\\s+");
                    if (w.length == 2 && (w[0].equals("high") || w[0].equals("max") || w[0].equals("oom"))) {
                        sum += Long.parseLong(w[1]);
                    }
                }
                rose = lastEvents >= 0 && sum > lastEvents;
                lastEvents = sum;
            } catch (IOException | RuntimeException e) {
                // unreadable or garbage: no pressure signal from it
            }
        }
        if (!rose && Files.isReadable(psi)) {
            try {
                for (String line : Files.readAllLines(psi, StandardCharsets.UTF_8)) {
                    if (line.startsWith("some ")) {
                        for (String field : line.split("\\s+")) {
                            if (field.startsWith("avg10=")) {
                                rose = Double.parseDouble(field.substring(6)) >= PRESSURE_AVG10;
                            }
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // no pressure signal
            }
        }
        return rose;
    }

    /** @return the process's resident set (VmRSS), 0 where {@code /proc/self/status} cannot say */
    private long processRss() {
        try {
            List<String> lines = Files.readAllLines(procStatus, StandardCharsets.UTF_8);
            for (String line : lines) {
                if (line.startsWith("VmRSS:")) {
                    String kb = line.substring(6).strip().split("\\s+")[0];
                    return Long.parseLong(kb) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
