package dev.cramjet.text;

/**
 * One document of a corpus: its text and where it came from ("poems.json[12]", "mail/0042.txt",
 * "corpus.jsonl:108"), so errors and reports can point back at the input.
 */
public record Document(String text, String source) {}
