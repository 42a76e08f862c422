/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Bloom: the bright parts of the picture bleed light around them. The bright parts are taken at a quarter of the size, blurred there across and then down, and added back over the full picture.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Blur", "Glow"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "threshold", "TYPE": "float", "LABEL": "Threshold", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.3},
        {"NAME": "bloomAmount", "TYPE": "float", "LABEL": "Bloom amount", "MIN": 0.0, "MAX": 4.0, "DEFAULT": 2.0, "IDENTITY": 0.0},
        {"NAME": "blurRadius", "TYPE": "float", "LABEL": "Blur radius (quarter-size pixels per tap)", "MIN": 0.5, "MAX": 4.0, "DEFAULT": 2.0},
        {"NAME": "bloomTint", "TYPE": "color", "LABEL": "Bloom tint", "DEFAULT": [1.0, 0.85, 0.95, 1.0]}
    ],
    "PASSES": [
        {"TARGET": "blurredAcross", "WIDTH": "$WIDTH/4", "HEIGHT": "$HEIGHT/4"},
        {"TARGET": "blurredBoth", "WIDTH": "$WIDTH/4", "HEIGHT": "$HEIGHT/4"},
        {}
    ]
}*/

// Cost per output pixel: two fetches in the last pass, plus 5 + 5 fetches per quarter-size
// pixel in the first two (1/16 of the pixels): under 3 fetches per pixel in all, for a blur
// about 20 full-size pixels wide. Pass 0 shrinks and blurs across in one go: its taps fall
// between source pixels, so each bilinear tap already averages 2x2 of them.
// One program runs every pass (PASSINDEX says which), and Mesa's llvmpipe executes the
// texture fetches of an if-branch not taken anyway (masked off, at full cost); a loop whose
// trip count is 0 is skipped. So each pass's fetches sit in a loop that runs only in that
// pass (tapsIn), and the other passes do not pay for them.

int tapsIn(int pass, int taps) { return PASSINDEX == pass ? taps : 0; }

float binomialWeight(int i) { return i == 2 ? 6.0 / 16.0 : (i == 1 || i == 3 ? 4.0 / 16.0 : 1.0 / 16.0); }

vec3 brightPart(vec3 colour) {
    float brightness = max(colour.r, max(colour.g, colour.b));
    return colour * max(brightness - threshold, 0.0) / max(1.0 - threshold, 1e-3);
}

void main() {
    vec2 uv = isf_FragNormCoord;
    // pass 0: five taps across, weights 1 4 6 4 1 (/16), a binomial close to a Gaussian, on
    // the bright part of the picture; spaced blurRadius quarter-size pixels apart
    vec2 across = vec2(blurRadius * 4.0 / IMG_SIZE(inputImage).x, 0.0);
    vec3 sumAcross = vec3(0.0);
    for (int i = 0; i < tapsIn(0, 5); i++) {
        vec3 tap = IMG_NORM_PIXEL(inputImage, uv + float(i - 2) * across).rgb;
        sumAcross += binomialWeight(i) * brightPart(tap);
    }
    // pass 1: the same five taps down the shrunk picture
    vec2 down = vec2(0.0, blurRadius / IMG_SIZE(blurredAcross).y);
    vec3 sumDown = vec3(0.0);
    for (int i = 0; i < tapsIn(1, 5); i++) {
        sumDown += binomialWeight(i) * IMG_NORM_PIXEL(blurredAcross, uv + float(i - 2) * down).rgb;
    }
    // pass 2: the picture and its glow
    vec4 source = vec4(0.0);
    vec3 glow = vec3(0.0);
    for (int i = 0; i < tapsIn(2, 1); i++) {
        source = IMG_NORM_PIXEL(inputImage, uv);
        glow = IMG_NORM_PIXEL(blurredBoth, uv).rgb * bloomTint.rgb * bloomAmount;
    }
    if (PASSINDEX == 0) {
        gl_FragColor = vec4(sumAcross, 1.0);
    } else if (PASSINDEX == 1) {
        gl_FragColor = vec4(sumDown, 1.0);
    } else {
        // screen blend: bright areas saturate gently instead of clipping flat
        gl_FragColor = vec4(1.0 - (1.0 - source.rgb) * (1.0 - min(glow, 1.0)), source.a);
    }
}
