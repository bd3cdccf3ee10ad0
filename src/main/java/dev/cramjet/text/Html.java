package dev.cramjet.text;

import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns HTML into text: script/style blocks and comments go, block-level tags become line breaks, other tags
 * vanish, and character entities (named ones in common use, decimal and hex) are decoded. Only a text that
 * {@link #looksLike looks like HTML} is touched: stripping everything shaped like a tag from plain text or code
 * deletes real text ("if (a<b && c>d)", "vector<int>"), as much as 40% of a source file.
 */
final class Html {
    private Html() {}

    private static final Pattern DROP = Pattern.compile("(?is)<(script|style)\\b[^>]*>.*?</\\1\\s*>|<!--.*?-->");
    private static final Pattern BLOCK = Pattern.compile(
            "(?i)</?(p|div|br|li|ul|ol|tr|table|h[1-6]|blockquote|pre|section|article|header|footer)\\b[^>]*>");
    private static final Pattern TAG = Pattern.compile("</?[a-zA-Z][^<>]*>|<![^<>]*>");
    private static final Pattern ENTITY = Pattern.compile("&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,7});");
    private static final Map<String, String> NAMED = Map.ofEntries(
            Map.entry("amp", "&"), Map.entry("lt", "<"), Map.entry("gt", ">"), Map.entry("quot", "\""),
            Map.entry("apos", "'"), Map.entry("nbsp", "\u00A0"), Map.entry("copy", "©"), Map.entry("reg", "®"),
            Map.entry("trade", "™"), Map.entry("mdash", "—"), Map.entry("ndash", "–"), Map.entry("hellip", "…"),
            Map.entry("lsquo", "‘"), Map.entry("rsquo", "’"), Map.entry("ldquo", "“"), Map.entry("rdquo", "”"),
            Map.entry("laquo", "«"), Map.entry("raquo", "»"), Map.entry("euro", "€"), Map.entry("pound", "£"),
            Map.entry("yen", "¥"), Map.entry("cent", "¢"), Map.entry("middot", "·"), Map.entry("bull", "•"),
            Map.entry("times", "×"), Map.entry("divide", "÷"), Map.entry("deg", "°"), Map.entry("sect", "§"),
            Map.entry("para", "¶"), Map.entry("shy", ""));

    /**
     * Evidence of HTML that plain text and code hardly ever hold: a closing tag of a common element, a line break or
     * paragraph tag, a doctype, or an entity such as &amp;amp; or &amp;#39;.
     */
    private static final Pattern EVIDENCE = Pattern.compile("(?i)</(p|div|span|a|b|i|u|em|strong|li|ul|ol|dl|dt|dd|table|tr|td|th"
            + "|thead|tbody|h[1-6]|html|head|body|title|pre|code|blockquote|section|article|header|footer|nav|main|aside"
            + "|font|center|small|sup|sub|script|style|form|label|option|select|button|textarea)\\s*>"
            + "|<(br|hr|p|img)(\\s[^<>]*)?/?>|<!doctype\\s+html|&(amp|lt|gt|quot|apos|nbsp|mdash|ndash|hellip|[lr][sd]quo|#[0-9]{1,7}"
            + "|#[xX][0-9a-fA-F]{1,6});");

    static boolean looksLike(String s) {
        return (s.indexOf('<') >= 0 || s.indexOf('&') >= 0) && EVIDENCE.matcher(s).find();
    }

    /** The text of an HTML document; any other text is returned as it is. */
    static String strip(String s) {
        if (!looksLike(s)) return s;
        if (s.indexOf('<') >= 0) {
            s = DROP.matcher(s).replaceAll("");
            s = BLOCK.matcher(s).replaceAll("\n");
            s = TAG.matcher(s).replaceAll("");
        }
        if (s.indexOf('&') >= 0) s = decodeEntities(s);
        return s;
    }

    static String decodeEntities(String s) {
        Matcher m = ENTITY.matcher(s);
        StringBuilder sb = new StringBuilder(s.length());
        while (m.find()) {
            String name = m.group(1);
            String rep;
            if (name.charAt(0) == '#') {
                int cp = name.charAt(1) == 'x' || name.charAt(1) == 'X'
                        ? Integer.parseInt(name.substring(2), 16) : Integer.parseInt(name.substring(1));
                rep = Character.isValidCodePoint(cp) && cp != 0 ? Character.toString(cp) : m.group();
            } else {
                rep = NAMED.getOrDefault(name.toLowerCase(Locale.ROOT), m.group());
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(rep));
        }
        m.appendTail(sb);
        return sb.toString();
    }
}
