package dev.cramjet.report;

import dev.cramjet.CramjetException;

import javax.imageio.ImageIO;
import java.awt.AWTError;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * A confusion matrix as a PNG heat map: rows are the true labels, columns the predicted ones; each cell shows
 * its count and is shaded by the share of its row (the row-normalised matrix, so a small class's errors are as
 * visible as a large one's), the diagonal in blue and errors in vermilion.
 */
public final class ConfusionPlot {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private ConfusionPlot() {}

    private static final Color RIGHT = new Color(0x0072B2), WRONG = new Color(0xD55E00), TEXT = new Color(0x222222);

    public static byte[] png(List<String> labels, long[][] m, String title) throws IOException {
        try {
            BufferedImage img = render(labels, m, title);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (!ImageIO.write(img, "png", out)) throw new IOException("no PNG writer in this Java runtime");
            return out.toByteArray();
        } catch (AWTError | LinkageError | NullPointerException | InternalError e) {
            throw new CramjetException("cannot draw charts: java.awt found no usable fonts (" + e
                    + "); install fontconfig and a font package such as fonts-dejavu-core", e);
        }
    }

    static BufferedImage render(List<String> labels, long[][] m, String title) {
        int k = labels.size();
        int cell = Math.max(36, Math.min(90, 720 / k));
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, Math.max(10, cell / 4)), bold = font.deriveFont(Font.BOLD, 18f);
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        FontMetrics fm = probe.createGraphics().getFontMetrics(font), tm = probe.createGraphics().getFontMetrics(bold);
        int labelW = 0;
        for (String l : labels) labelW = Math.max(labelW, fm.stringWidth(l));
        String footer = "rows: true label (shade = share of the row)";
        int left = labelW + 60, top = 90 + labelW, height = top + k * cell + 50;
        int width = Math.max(left + k * cell + 30, Math.max(tm.stringWidth(title) + 32, left + fm.stringWidth(footer) + 16));
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setColor(TEXT);
            g.setFont(bold);
            g.drawString(title, 16, 30);
            g.setFont(font);
            for (int i = 0; i < k; i++) {
                long row = 0;
                for (long v : m[i]) row += v;
                for (int j = 0; j < k; j++) {
                    double share = row == 0 ? 0 : (double) m[i][j] / row;
                    Color base = i == j ? RIGHT : WRONG;
                    g.setColor(mix(base, share));
                    g.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
                    String s = Long.toString(m[i][j]);
                    g.setColor(share > 0.55 ? Color.WHITE : TEXT);
                    g.drawString(s, left + j * cell + (cell - fm.stringWidth(s)) / 2, top + i * cell + (cell + fm.getAscent()) / 2 - 2);
                }
                g.setColor(TEXT);
                g.drawString(labels.get(i), left - 8 - fm.stringWidth(labels.get(i)), top + i * cell + (cell + fm.getAscent()) / 2 - 2);
            }
            AffineTransform saved = g.getTransform();
            for (int j = 0; j < k; j++) {
                g.setTransform(saved);
                g.translate(left + j * cell + (cell + fm.getAscent()) / 2 - 2, top - 8);
                g.rotate(-Math.PI / 2);
                g.drawString(labels.get(j), 0, 0);
            }
            g.setTransform(saved);
            g.setColor(new Color(0x666666));
            g.drawString("predicted →", left, 62);
            g.drawString(footer, left, top + k * cell + 30);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** White blended towards {@code c} by {@code t} in [0, 1]. */
    private static Color mix(Color c, double t) {
        double a = Math.sqrt(Math.clamp(t, 0, 1)); // small shares stay visible
        return new Color((int) Math.round(255 + (c.getRed() - 255) * a), (int) Math.round(255 + (c.getGreen() - 255) * a),
                (int) Math.round(255 + (c.getBlue() - 255) * a));
    }
}
