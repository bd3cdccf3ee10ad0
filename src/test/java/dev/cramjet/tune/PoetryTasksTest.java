package dev.cramjet.tune;

import dev.cramjet.tune.ChatData.Conversation;
import dev.cramjet.tune.ChatData.Preference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** The built-in sets, on a corpus file in the chinese-poetry package's format written here. */
class PoetryTasksTest {
    /** {title, author, paragraphs…} */
    static final String[][] POEMS = {
        {"登鸛雀樓", "王之渙", "白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"},
        {"靜夜思", "李白", "床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"},
        {"句", "李白", "大漠孤煙直，長河落日圓。"},
        {"無題", "不詳", "相見時難別亦難，東風無力百花殘。", "春蠶到死絲方盡，蠟炬成灰淚始乾。"},
        {"雜言", "李白", "長短不一，之詩。"},
    };

    /** The poems above, then MIN_POEMS quatrains by one poet (so there is an author to ask about). */
    static Path corpus(Path dir) throws Exception {
        List<String[]> all = new ArrayList<>(List.of(POEMS));
        String chars = "春花秋月山水風雨江河日夜雲天人歸來去長短明白青紅孤舟遠近";
        for (int i = 0; i < PoetryTasks.MIN_POEMS; i++) {
            StringBuilder a = new StringBuilder(), b = new StringBuilder();
            for (int k = 0; k < 5; k++) {
                a.append(chars.charAt((i * 7 + k) % chars.length()));
                b.append(chars.charAt((i * 11 + k + 3) % chars.length()));
            }
            all.add(new String[] {"秋興" + i, "杜甫", a + "，" + b + "。", b + "，" + a + "。"});
        }
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < all.size(); i++) {
            String[] p = all.get(i);
            sb.append(i > 0 ? "," : "").append("{\"author\": \"").append(p[1]).append("\", \"title\": \"").append(p[0]).append("\", \"paragraphs\": [");
            for (int j = 2; j < p.length; j++) sb.append(j > 2 ? "," : "").append('"').append(p[j]).append('"');
            sb.append("], \"id\": \"x").append(i).append("\"}");
        }
        Path f = dir.resolve("poet.tang.0.json");
        Files.writeString(f, sb.append("]").toString());
        return f;
    }

    @Test
    void instructionsWriteAttributeAndContinue(@TempDir Path dir) throws Exception {
        List<Conversation> c = PoetryTasks.instructions(List.of(corpus(dir)));
        List<String> asks = new ArrayList<>();
        for (Conversation x : c) asks.add(x.messages().get(0).content() + " → " + x.messages().get(1).content());
        assertTrue(asks.contains("以《登鸛雀樓》爲題，寫一首五言絕句。 → 白日依山盡，黃河入海流。\n欲窮千里目，更上一層樓。"), asks.toString());
        assertTrue(asks.contains("以《無題》爲題，寫一首七言絕句。 → 相見時難別亦難，東風無力百花殘。\n春蠶到死絲方盡，蠟炬成灰淚始乾。"), asks.toString());
        assertTrue(asks.stream().noneMatch(a -> a.startsWith("以《句》")), "a fragment is not a titled poem");
        assertTrue(asks.stream().noneMatch(a -> a.startsWith("以《雜言》")), "lines of unequal length are no form");
        assertTrue(asks.contains("接下一句：大漠孤煙直 → 長河落日圓。"), asks.toString());
        // Only poets with MIN_POEMS poems are asked about: not 李白 (three here) nor an unknown author.
        long attributions = asks.stream().filter(a -> a.startsWith("這首詩的作者是誰？\n")).count();
        assertEquals(PoetryTasks.MIN_POEMS, attributions);
        assertTrue(asks.stream().filter(a -> a.startsWith("這首詩的作者是誰")).allMatch(a -> a.endsWith(" → 杜甫")));
        for (Conversation x : c) assertTrue(x.source().startsWith("poet.tang.0.json["), x.source());
    }

    @Test
    void theRejectedPoemIsTheSamePoemWithABrokenCaesura(@TempDir Path dir) throws Exception {
        List<Preference> prefs = PoetryTasks.preferences(List.of(corpus(dir)));
        assertEquals(3 + PoetryTasks.MIN_POEMS, prefs.size(), "the titled poems of a regular form");
        Pattern line = Pattern.compile("[，。]");
        for (Preference p : prefs) {
            assertNotEquals(p.chosen(), p.rejected());
            assertEquals(p.chosen().replaceAll("[，。\n]", ""), p.rejected().replaceAll("[，。\n]", ""), "the same characters");
            List<Integer> good = new ArrayList<>(), bad = new ArrayList<>();
            for (String l : line.split(p.chosen().replace("\n", ""))) good.add(l.length());
            for (String l : line.split(p.rejected().replace("\n", ""))) bad.add(l.length());
            assertEquals(1, good.stream().distinct().count(), "chosen: regular " + good);
            int n = good.getFirst(), changed = 0;
            for (int i = 0; i < bad.size(); i++) if (bad.get(i) != n) changed++;
            assertEquals(2, changed, "rejected: one line short, the next long " + bad);
            assertTrue(bad.contains(n - 1) && bad.contains(n + 1), bad.toString());
        }
    }
}
