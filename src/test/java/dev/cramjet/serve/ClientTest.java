package dev.cramjet.serve;

import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingLanguageModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real OpenAI client library, LangChain4j's OpenAI module, against the server: plain and streaming chat and
 * completions, stop sequences, seeds, and the errors it maps to its own exceptions.
 */
class ClientTest {
    private static final String KEY = "sk-test-cramjet";
    static TinyModel tiny;

    @BeforeAll
    static void start() throws Exception { tiny = new TinyModel(4, 16, KEY, null, 1 << 16, 60, null); }

    @AfterAll
    static void stop() { tiny.close(); }

    private static OpenAiChatModel.OpenAiChatModelBuilder chat() {
        return OpenAiChatModel.builder().baseUrl(tiny.url() + "/v1").apiKey(KEY).modelName("tiny").maxRetries(0)
                .timeout(Duration.ofSeconds(30)).maxTokens(24);
    }

    private static OpenAiStreamingChatModel.OpenAiStreamingChatModelBuilder streamingChat() {
        return OpenAiStreamingChatModel.builder().baseUrl(tiny.url() + "/v1").apiKey(KEY).modelName("tiny")
                .timeout(Duration.ofSeconds(30)).maxTokens(24);
    }

    private static ChatRequest conversation() {
        return ChatRequest.builder().messages(SystemMessage.from("You are a tiny model."), UserMessage.from("Say hello")).build();
    }

    /** Streams a chat; returns the concatenated partial texts and the final response. */
    private static String stream(OpenAiStreamingChatModel model, ChatResponse[] done) throws Exception {
        StringBuilder parts = new StringBuilder();
        CompletableFuture<ChatResponse> future = new CompletableFuture<>();
        model.chat(conversation(), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) { parts.append(partial); }

            @Override
            public void onCompleteResponse(ChatResponse response) { future.complete(response); }

            @Override
            public void onError(Throwable error) { future.completeExceptionally(error); }
        });
        done[0] = future.get(60, TimeUnit.SECONDS);
        return parts.toString();
    }

    @Test
    void chatPlainAndStreamingAgreeAndASeedReproducesTheText() throws Exception {
        ChatResponse plain = chat().seed(7).temperature(0.9).build().chat(conversation());
        String text = plain.aiMessage().text();
        assertNotNull(text);
        int prompt = ChatTemplate.of(tiny.tokenizer).encode(List.of(new ChatTemplate.Message("system", "You are a tiny model."),
                new ChatTemplate.Message("user", "Say hello"))).length;
        assertEquals(prompt, plain.tokenUsage().inputTokenCount());
        int out = plain.tokenUsage().outputTokenCount();
        assertTrue(out >= 1 && out <= 24, "output tokens " + out);
        assertTrue(plain.finishReason() == FinishReason.STOP || plain.finishReason() == FinishReason.LENGTH);
        assertTrue(plain.id().startsWith("chatcmpl-"), plain.id());

        assertEquals(text, chat().seed(7).temperature(0.9).build().chat(conversation()).aiMessage().text(), "same seed, same text");
        assertNotEquals(text, chat().seed(8).temperature(0.9).build().chat(conversation()).aiMessage().text());

        ChatResponse[] done = new ChatResponse[1];
        String streamed = stream(streamingChat().seed(7).temperature(0.9).build(), done);
        assertEquals(text, streamed);
        assertEquals(text, done[0].aiMessage().text());
        assertEquals(out, done[0].tokenUsage().outputTokenCount());
        assertEquals(plain.finishReason(), done[0].finishReason());
    }

    @Test
    void aStreamThatWaitsHearsKeepAliveCommentsTheClientSkips() throws Exception {
        String plain = chat().seed(7).temperature(0.9).build().chat(conversation()).aiMessage().text();
        // Stall the engine for 2.5 s (a sink that blocks the decoding thread), so the next stream waits and the
        // server sends it ": waiting" comment lines before its first token.
        java.util.concurrent.CountDownLatch stalled = new java.util.concurrent.CountDownLatch(1);
        tiny.engine.submit(List.of(new Engine.Job(tiny.tokenizer.encode("Once"), 2,
                new dev.cramjet.infer.Sampler.Settings(0, 0, 1, 1, 0), List.of(), new int[0], -1, 0)), new Engine.Sink() {
            @Override
            public void text(int index, String piece, List<Engine.TokenLogprob> logprobs) {
                if (stalled.getCount() == 0) return;
                stalled.countDown();
                try {
                    Thread.sleep(2500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void end(int index, String reason, int p, int c) { }

            @Override
            public void fail(ApiError error) { }
        }, Long.MAX_VALUE);
        assertTrue(stalled.await(30, TimeUnit.SECONDS));
        ChatResponse[] done = new ChatResponse[1];
        assertEquals(plain, stream(streamingChat().seed(7).temperature(0.9).build(), done));
        assertEquals(plain, done[0].aiMessage().text());
    }

    @Test
    void stopSequencesCutTheReplyInPlainAndStreamingChat() throws Exception {
        String full = chat().temperature(0.0).build().chat(conversation()).aiMessage().text();
        assertTrue(full.length() > 8, "the tiny model writes enough text: '" + full + "'");
        String stop = full.substring(4, 7);
        String expected = full.substring(0, full.indexOf(stop));
        ChatResponse cut = chat().temperature(0.0).stop(List.of(stop)).build().chat(conversation());
        assertEquals(expected, cut.aiMessage().text());
        assertEquals(FinishReason.STOP, cut.finishReason());
        ChatResponse[] done = new ChatResponse[1];
        assertEquals(expected, stream(streamingChat().temperature(0.0).stop(List.of(stop)).build(), done));
        assertEquals(FinishReason.STOP, done[0].finishReason());
    }

    @Test
    void completionsPlainAndStreaming() throws Exception {
        OpenAiLanguageModel lm = OpenAiLanguageModel.builder().baseUrl(tiny.url() + "/v1").apiKey(KEY).modelName("tiny")
                .temperature(0.0).maxRetries(0).timeout(Duration.ofSeconds(30)).build();
        Response<String> r = lm.generate("Once upon a time");
        assertFalse(r.content().isEmpty());
        assertEquals(tiny.tokenizer.encode("Once upon a time").length, r.tokenUsage().inputTokenCount());
        assertTrue(r.tokenUsage().outputTokenCount() <= 16, "OpenAI's default of 16 tokens");
        OpenAiStreamingLanguageModel slm = OpenAiStreamingLanguageModel.builder().baseUrl(tiny.url() + "/v1").apiKey(KEY)
                .modelName("tiny").temperature(0.0).timeout(Duration.ofSeconds(30)).build();
        StringBuilder parts = new StringBuilder();
        CompletableFuture<Response<String>> future = new CompletableFuture<>();
        slm.generate("Once upon a time", new StreamingResponseHandler<>() {
            @Override
            public void onNext(String token) { parts.append(token); }

            @Override
            public void onComplete(Response<String> response) { future.complete(response); }

            @Override
            public void onError(Throwable error) { future.completeExceptionally(error); }
        });
        Response<String> s = future.get(60, TimeUnit.SECONDS);
        assertEquals(r.content(), parts.toString());
        assertEquals(r.content(), s.content());
    }

    @Test
    void errorsArriveAsTheClientsOwnExceptions() {
        OpenAiChatModel wrongKey = OpenAiChatModel.builder().baseUrl(tiny.url() + "/v1").apiKey("sk-wrong").modelName("tiny").maxRetries(0).build();
        assertThrows(AuthenticationException.class, () -> wrongKey.chat("hi"));
        OpenAiChatModel wrongModel = OpenAiChatModel.builder().baseUrl(tiny.url() + "/v1").apiKey(KEY).modelName("gpt-4o").maxRetries(0).build();
        ModelNotFoundException nf = assertThrows(ModelNotFoundException.class, () -> wrongModel.chat("hi"));
        assertTrue(nf.getMessage().contains("gpt-4o"), nf.getMessage());
        InvalidRequestException bad = assertThrows(InvalidRequestException.class, () -> chat().temperature(7.0).build().chat("hi"));
        assertTrue(bad.getMessage().contains("temperature"), bad.getMessage());
        InvalidRequestException tooLong = assertThrows(InvalidRequestException.class, () -> chat().maxTokens(100_000).build().chat("hi"));
        assertTrue(tooLong.getMessage().contains("max_tokens"), tooLong.getMessage());
    }
}
