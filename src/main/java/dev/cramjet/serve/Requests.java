package dev.cramjet.serve;

import dev.cramjet.Hash;
import dev.cramjet.infer.Sampler;
import dev.cramjet.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads the body of {@code POST /v1/completions} and {@code POST /v1/chat/completions} into the sequences to
 * generate. Every field OpenAI defines is either honoured or refused with a 400 naming it — never silently
 * ignored — and so is any field it does not define. Honoured: {@code model}, {@code prompt} (a string, a list of
 * strings, a list of token ids) or {@code messages}, {@code max_tokens} / {@code max_completion_tokens},
 * {@code temperature}, {@code top_p}, {@code top_k} and {@code repetition_penalty} (extensions, as in llama.cpp and
 * vLLM), {@code stop}, {@code seed}, {@code n}, {@code logprobs} / {@code top_logprobs}, {@code presence_penalty},
 * {@code frequency_penalty}, {@code stream}, {@code stream_options.include_usage}, and {@code user} (an identifier
 * only). Values that ask for nothing ({@code "tools": []}, {@code "response_format": {"type": "text"}},
 * {@code "echo": false}, {@code "best_of": 1}, …) are accepted.
 */
final class Requests {
    private Requests() {}

    /** The most alternatives a token's logprobs may list (OpenAI's limit for chat). */
    static final int MAX_TOP_LOGPROBS = 20;
    /** The most stop sequences a request may give. */
    static final int MAX_STOPS = 16;

    /** What the server allows: the longest prompt, the most new tokens, the most choices, the context. */
    record Limits(int maxPromptTokens, int maxTokens, int maxChoices, int context) {}

    /**
     * A parsed request: its prompts (one per prompt given; each yields n choices), the shared generation settings,
     * and how to answer.
     */
    record Parsed(String model, boolean chat, List<int[]> prompts, int n, int maxTokens, Sampler.Settings settings,
                  List<String> stops, int[] stopTokens, int topLogprobs, boolean stream, boolean includeUsage) {
        /** The sequences to generate: prompt p's choice i has index p·n + i and seed mix(seed + index) (0: seed). */
        List<Engine.Job> jobs() {
            List<Engine.Job> jobs = new ArrayList<>();
            for (int p = 0; p < prompts.size(); p++) {
                for (int i = 0; i < n; i++) {
                    int index = p * n + i;
                    long seed = index == 0 ? settings.seed() : Hash.mix(settings.seed() + index);
                    jobs.add(new Engine.Job(prompts.get(p), maxTokens, settings.seed(seed), stops, stopTokens, topLogprobs, index));
                }
            }
            return jobs;
        }

        int promptTokens() {
            int sum = 0;
            for (int[] p : prompts) sum += p.length;
            return sum;
        }
    }

    private static final Set<String> COMMON = Set.of("model", "max_tokens", "temperature", "top_p", "top_k", "stop",
            "seed", "n", "logprobs", "presence_penalty", "frequency_penalty", "repetition_penalty", "stream",
            "stream_options", "user", "logit_bias", "metadata", "service_tier", "store");
    private static final Set<String> CHAT = Set.of("messages", "max_completion_tokens", "top_logprobs", "tools",
            "tool_choice", "functions", "function_call", "parallel_tool_calls", "response_format", "modalities");
    private static final Set<String> COMPLETION = Set.of("prompt", "echo", "best_of", "suffix");

    static Parsed parse(Map<String, Object> body, boolean chat, String modelId, Tokenizer tokenizer,
                        ChatTemplate template, Limits limits) {
        for (String k : body.keySet()) {
            if (!COMMON.contains(k) && !(chat ? CHAT : COMPLETION).contains(k)) {
                throw ApiError.unsupported(k, "unrecognized request argument: " + k);
            }
        }
        String model = body.get("model") == null ? modelId : string(body, "model");
        if (!model.equals(modelId)) {
            throw new ApiError(404, "invalid_request_error", "model_not_found", "model",
                    "the model '" + model + "' does not exist; this server has '" + modelId + "'", 0);
        }
        refuseUnlessNeutral(body, chat);

        List<int[]> prompts = new ArrayList<>();
        List<String> stops = new ArrayList<>();
        if (chat) {
            prompts.add(template.encode(messages(body.get("messages"))));
            stops.addAll(template.stops());
        } else {
            prompts.addAll(prompts(body.get("prompt"), tokenizer));
        }
        stops.addAll(stops(body.get("stop")));

        int n = (int) integer(body, "n", 1, 1, limits.maxChoices());
        if (n * prompts.size() > limits.maxChoices()) {
            throw ApiError.invalid("n", prompts.size() + " prompts × n = " + n + " is more than the " + limits.maxChoices()
                    + " sequences this server decodes at once");
        }
        int longest = 0;
        for (int[] p : prompts) longest = Math.max(longest, p.length);
        int promptLimit = Math.min(limits.maxPromptTokens(), limits.context() - 1);
        if (longest > promptLimit) {
            throw new ApiError(400, "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt",
                    "the prompt is " + longest + " tokens; this server takes at most " + promptLimit, 0);
        }
        String maxKey = chat && body.containsKey("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        if (chat && body.get("max_completion_tokens") != null && body.get("max_tokens") != null) {
            throw ApiError.invalid("max_tokens", "give max_tokens or max_completion_tokens, not both");
        }
        int room = Math.min(limits.maxTokens(), limits.context() - longest);
        int maxTokens;
        if (body.get(maxKey) == null) {
            maxTokens = chat ? room : Math.min(16, room);           // OpenAI's completions default is 16
        } else {
            maxTokens = (int) integer(body, maxKey, 0, 1, limits.maxTokens());
            if (maxTokens > room) {
                throw new ApiError(400, "invalid_request_error", "context_length_exceeded", maxKey, "the context holds "
                        + limits.context() + " tokens: the prompt's " + longest + " leave room for " + room
                        + ", but " + maxKey + " is " + maxTokens, 0);
            }
        }

        double temperature = number(body, "temperature", 1, 0, 2);
        double topP = number(body, "top_p", 1, Double.MIN_VALUE, 1);
        int topK = (int) integer(body, "top_k", 0, 0, Integer.MAX_VALUE);
        double presence = number(body, "presence_penalty", 0, -2, 2);
        double frequency = number(body, "frequency_penalty", 0, -2, 2);
        double repetition = number(body, "repetition_penalty", 1, Double.MIN_VALUE, 100);
        long seed = body.get("seed") == null ? ThreadLocalRandom.current().nextLong() : integer(body, "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE);
        Sampler.Settings settings = new Sampler.Settings(temperature, topK, topP, repetition, presence, frequency, seed);

        int top = -1;
        if (chat) {
            boolean want = bool(body, "logprobs", false);
            if (body.get("top_logprobs") != null) {
                if (!want) throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
                top = (int) integer(body, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS);
            } else if (want) {
                top = 0;
            }
        } else if (body.get("logprobs") != null) {
            top = (int) integer(body, "logprobs", 0, 0, 5);            // the legacy API's limit
        }

        boolean stream = bool(body, "stream", false), usage = false;
        Object so = body.get("stream_options");
        if (so != null) {
            if (!stream) throw ApiError.invalid("stream_options", "stream_options is only allowed with stream: true");
            if (!(so instanceof Map<?, ?> m)) throw ApiError.invalid("stream_options", "stream_options must be an object");
            for (Object k : m.keySet()) {
                if (!k.equals("include_usage")) throw ApiError.unsupported("stream_options." + k, "unrecognized stream option: " + k);
            }
            Object iu = m.get("include_usage");
            if (iu != null && !(iu instanceof Boolean)) throw ApiError.invalid("stream_options.include_usage", "include_usage must be a boolean");
            usage = Boolean.TRUE.equals(iu);
        }
        if (body.get("user") != null) string(body, "user");
        return new Parsed(model, chat, prompts, n, maxTokens, settings, stops, chat ? template.stopTokens() : new int[0],
                top, stream, usage);
    }

    /** Fields whose only accepted value is the one that asks for nothing beyond plain text generation. */
    private static void refuseUnlessNeutral(Map<String, Object> body, boolean chat) {
        if (body.get("logit_bias") instanceof Map<?, ?> m && !m.isEmpty() || body.get("logit_bias") instanceof List<?>) {
            throw ApiError.unsupported("logit_bias", "logit_bias is not supported");
        }
        if (Boolean.TRUE.equals(body.get("store"))) throw ApiError.unsupported("store", "this server does not store completions");
        for (String k : List.of("tools", "functions")) {
            if (body.get(k) instanceof List<?> l && !l.isEmpty()) throw ApiError.unsupported(k, "this model has no tool calling");
        }
        for (String k : List.of("tool_choice", "function_call")) {
            Object v = body.get(k);
            if (v != null && !"none".equals(v) && !"auto".equals(v)) throw ApiError.unsupported(k, "this model has no tool calling");
        }
        Object rf = body.get("response_format");
        if (rf != null && !(rf instanceof Map<?, ?> m && "text".equals(m.get("type")))) {
            throw ApiError.unsupported("response_format", "only the text response format is supported");
        }
        Object mod = body.get("modalities");
        if (mod != null && !List.of("text").equals(mod)) throw ApiError.unsupported("modalities", "only text output is supported");
        if (Boolean.TRUE.equals(body.get("echo"))) throw ApiError.unsupported("echo", "echo is not supported");
        Object bestOf = body.get("best_of");
        if (bestOf != null && !(bestOf instanceof Long l && l == 1)) throw ApiError.unsupported("best_of", "best_of is not supported (only 1)");
        Object suffix = body.get("suffix");
        if (suffix != null && !"".equals(suffix)) throw ApiError.unsupported("suffix", "suffix (insertion) is not supported");
        Object tier = body.get("service_tier");
        if (tier != null && !"auto".equals(tier) && !"default".equals(tier)) throw ApiError.unsupported("service_tier", "only the default service tier exists here");
    }

    private static List<ChatTemplate.Message> messages(Object v) {
        if (!(v instanceof List<?> list) || list.isEmpty()) throw ApiError.invalid("messages", "messages must be a non-empty array");
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String where = "messages[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> m)) throw ApiError.invalid(where, where + " must be an object");
            Object role = m.get("role");
            if (!(role instanceof String r) || !Set.of("system", "developer", "user", "assistant").contains(r)) {
                throw ApiError.invalid(where + ".role", where + ".role must be system, developer, user or assistant"
                        + (role instanceof String s ? ", got '" + s + "'" : ""));
            }
            for (Object k : m.keySet()) {
                if (!Set.of("role", "content", "name").contains(k)) {
                    throw ApiError.unsupported(where + "." + k, where + ": unsupported message field " + k);
                }
            }
            out.add(new ChatTemplate.Message(r, content(m.get("content"), where + ".content")));
        }
        return out;
    }

    /** A message's text: a string, or an array of text parts. */
    private static String content(Object v, String where) {
        if (v instanceof String s) return s;
        if (v instanceof List<?> parts) {
            StringBuilder sb = new StringBuilder();
            for (Object p : parts) {
                if (!(p instanceof Map<?, ?> m) || !"text".equals(m.get("type")) || !(m.get("text") instanceof String t)) {
                    throw ApiError.unsupported(where, where + ": only text parts ({\"type\": \"text\", \"text\": …}) are supported");
                }
                sb.append(t);
            }
            return sb.toString();
        }
        throw ApiError.invalid(where, where + " must be a string or an array of text parts");
    }

    private static List<int[]> prompts(Object v, Tokenizer tokenizer) {
        if (v == null) throw ApiError.invalid("prompt", "prompt is required");
        if (v instanceof String s) return List.of(encode(s, tokenizer));
        if (v instanceof List<?> list && !list.isEmpty()) {
            if (list.getFirst() instanceof Long) return List.of(ids(list, tokenizer, "prompt"));
            List<int[]> out = new ArrayList<>();
            for (int i = 0; i < list.size(); i++) {
                Object p = list.get(i);
                if (p instanceof String s) out.add(encode(s, tokenizer));
                else if (p instanceof List<?> l && !l.isEmpty()) out.add(ids(l, tokenizer, "prompt[" + i + "]"));
                else throw ApiError.invalid("prompt", "prompt[" + i + "] must be a string or a non-empty array of token ids");
            }
            return out;
        }
        throw ApiError.invalid("prompt", "prompt must be a string, an array of strings, or an array of token ids");
    }

    /** A prompt's ids; an empty prompt starts from end of text, as GPT-2 samples unconditionally. */
    private static int[] encode(String s, Tokenizer tokenizer) {
        return s.isEmpty() ? new int[] {tokenizer.eot()} : tokenizer.encode(s);
    }

    private static int[] ids(List<?> list, Tokenizer tokenizer, String where) {
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!(list.get(i) instanceof Long l) || l < 0 || l >= tokenizer.vocabSize()) {
                throw ApiError.invalid("prompt", where + "[" + i + "] must be a token id in [0, " + tokenizer.vocabSize() + ")");
            }
            ids[i] = (int) (long) l;
        }
        return ids;
    }

    private static List<String> stops(Object v) {
        if (v == null) return List.of();
        List<?> list = v instanceof String s ? List.of(s) : v instanceof List<?> l ? l : null;
        if (list == null) throw ApiError.invalid("stop", "stop must be a string or an array of strings");
        if (list.size() > MAX_STOPS) throw ApiError.invalid("stop", "at most " + MAX_STOPS + " stop sequences, got " + list.size());
        List<String> out = new ArrayList<>();
        for (Object o : list) {
            if (!(o instanceof String s) || s.isEmpty()) throw ApiError.invalid("stop", "each stop sequence must be a non-empty string");
            out.add(s);
        }
        return out;
    }

    private static String string(Map<String, Object> body, String key) {
        if (body.get(key) instanceof String s) return s;
        throw ApiError.invalid(key, key + " must be a string");
    }

    private static boolean bool(Map<String, Object> body, String key, boolean fallback) {
        Object v = body.get(key);
        if (v == null) return fallback;
        if (v instanceof Boolean b) return b;
        throw ApiError.invalid(key, key + " must be true or false");
    }

    private static long integer(Map<String, Object> body, String key, long fallback, long min, long max) {
        Object v = body.get(key);
        if (v == null) return fallback;
        long x;
        if (v instanceof Long l) x = l;
        else if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 9e15) x = d.longValue();
        else throw ApiError.invalid(key, key + " must be an integer");
        if (x < min || x > max) throw ApiError.invalid(key, key + " must be in [" + min + ", " + max + "], got " + x);
        return x;
    }

    private static double number(Map<String, Object> body, String key, double fallback, double min, double max) {
        Object v = body.get(key);
        if (v == null) return fallback;
        if (!(v instanceof Number num)) throw ApiError.invalid(key, key + " must be a number");
        double x = num.doubleValue();
        if (!(x >= min && x <= max)) {
            String low = min == Double.MIN_VALUE ? "(0" : "[" + fmt(min);
            throw ApiError.invalid(key, key + " must be in " + low + ", " + fmt(max) + "], got " + x);
        }
        return x;
    }

    private static String fmt(double v) { return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v); }
}
