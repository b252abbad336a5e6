package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugCommands;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random strings into {@link HotplugCommands#execute}: only IllegalArgumentException or IllegalStateException may
 * come out, and a command that throws changes nothing. Fixed seed.
 */
class HotplugCommandsFuzzTest {
    private static final String[] VERBS = {"plug", "enable", "disable", "remap", "drain", "offline", "unplug",
            "status", "help", "PLUG", "Drain", "quit", "", "reboot"};
    private static final String[] ARGS = {"0", "1", "2", "3", "4", "-1", "99", "2147483648", "0x1", "1.5", "1e3",
            "NaN", "Infinity", "-0", "0.0", "abc", "", " ", "\t", "\u0000", "１", "1,2", "+1", "0.001"};

    @Test
    void onlyArgumentOrStateExceptionsAndNoChangeWhenRefused() {
        SplittableRandom r = new SplittableRandom(20261126);
        int accepted = 0;
        int refusedArgs = 0;
        int refusedStates = 0;
        try (PageAllocator a = PageAllocator.builder().maxOrder(4)
                .node(NodeSpec.fixed(1L << 20))
                .node(NodeSpec.hotRemovable(1L << 20))
                .node(NodeSpec.hotRemovable(1L << 20).startUnplugged())
                .build()) {
            HotplugCommands c = new HotplugCommands(a);
            long live = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(live, 0, 42);
            for (int i = 0; i < 20_000; i++) {
                String line = r.nextInt(5) == 0 ? randomChars(r) : randomTokens(r);
                String before = a.status().render();
                try {
                    c.execute(line);
                    accepted++;
                } catch (IllegalArgumentException e) {
                    refusedArgs++;
                    assertEquals(before, a.status().render(), "refused '" + line + "' changed the state");
                } catch (IllegalStateException e) {
                    refusedStates++;
                    assertEquals(before, a.status().render(), "refused '" + line + "' changed the state");
                }
                a.checkInvariants();
                assertEquals(42, a.getLong(live, 0), "data changed by '" + line + "'");
            }
            a.free(live);
        }
        assertTrue(accepted > 500 && refusedArgs > 500 && refusedStates > 500,
                "accepted " + accepted + ", bad arguments " + refusedArgs + ", refused " + refusedStates);
    }

    private static String randomTokens(SplittableRandom r) {
        StringBuilder sb = new StringBuilder();
        if (r.nextInt(8) == 0) {
            sb.append("  ");
        }
        sb.append(VERBS[r.nextInt(VERBS.length)]);
        int n = r.nextInt(4);
        for (int i = 0; i < n; i++) {
            sb.append(r.nextInt(6) == 0 ? "   " : " ").append(ARGS[r.nextInt(ARGS.length)]);
        }
        return sb.toString();
    }

    private static String randomChars(SplittableRandom r) {
        char[] cs = new char[r.nextInt(24)];
        for (int i = 0; i < cs.length; i++) {
            cs[i] = r.nextInt(4) == 0 ? (char) r.nextInt(0x3000) : " 0123456789abcdefgpluenrmstdiofhx.-"
                    .charAt(r.nextInt(35));
        }
        return new String(cs);
    }
}
