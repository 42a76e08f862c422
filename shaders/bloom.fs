/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Bloom: the bright parts of the picture bleed light around them. The bright parts are taken at a quarter of the size and blurred there in two short passes, then added back over the full picture.",
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
        {"TARGET": "brightQuarter", "WIDTH": "$WIDTH/4", "HEIGHT": "$HEIGHT/4"},
        {"TARGET": "blurredAcross", "WIDTH": "$WIDTH/4", "HEIGHT": "$HEIGHT/4"},
        {"TARGET": "blurredBoth", "WIDTH": "$WIDTH/4", "HEIGHT": "$HEIGHT/4"},
        {}
    ]
}*/

// Cost per output pixel: two fetches in the last pass, plus (4 + 5 + 5) fetches per
// quarter-size pixel in the first three (1/16 of the pixels): under 3 fetches per pixel in
// all, for a blur about 20 full-size pixels wide.
// One program runs every pass (PASSINDEX says which), and Mesa's llvmpipe executes the
// texture fetches of an if-branch not taken anyway (masked off, at full cost); a loop whose
// trip count is 0 is skipped. So each pass's fetches sit in a loop that runs only in that
// pass (tapsIn), and the other passes do not pay for them.

int tapsIn(int pass, int taps) { return PASSINDEX == pass ? taps : 0; }

vec4 blurFiveTaps(sampler2D image, vec2 uv, vec2 direction, int pass) {
    // weights 1 4 6 4 1 (/16): a binomial, close to a Gaussian
    vec2 texel = direction * blurRadius / IMG_SIZE(image);
    vec4 sum = vec4(0.0);
    for (int i = 0; i < tapsIn(pass, 5); i++) {
        float weight = i == 2 ? 6.0 : (i == 1 || i == 3 ? 4.0 : 1.0);
        sum += weight * IMG_NORM_PIXEL(image, uv + float(i - 2) * texel);
    }
    return sum / 16.0;
}

void main() {
    vec2 uv = isf_FragNormCoord;
    // pass 0: four bilinear taps, each the mean of 2x2 source pixels, cover the 4x4 block
    vec2 texel = 1.0 / IMG_SIZE(inputImage);
    vec3 mean = vec3(0.0);
    for (int i = 0; i < tapsIn(0, 4); i++) {
        vec2 corner = vec2(float(i % 2), float(i / 2)) * 2.0 - 1.0;
        mean += IMG_NORM_PIXEL(inputImage, uv + corner * texel).rgb * 0.25;
    }
    vec4 across = blurFiveTaps(brightQuarter, uv, vec2(1.0, 0.0), 1);
    vec4 both = blurFiveTaps(blurredAcross, uv, vec2(0.0, 1.0), 2);
    vec4 source = vec4(0.0);
    vec3 glow = vec3(0.0);
    for (int i = 0; i < tapsIn(3, 1); i++) {
        source = IMG_NORM_PIXEL(inputImage, uv);
        glow = IMG_NORM_PIXEL(blurredBoth, uv).rgb * bloomTint.rgb * bloomAmount;
    }
    if (PASSINDEX == 0) {
        float brightness = max(mean.r, max(mean.g, mean.b));
        float keep = max(brightness - threshold, 0.0) / max(1.0 - threshold, 1e-3);
        gl_FragColor = vec4(mean * keep, 1.0);
    } else if (PASSINDEX == 1) {
        gl_FragColor = across;
    } else if (PASSINDEX == 2) {
        gl_FragColor = both;
    } else {
        // screen blend: bright areas saturate gently instead of clipping flat
        gl_FragColor = vec4(1.0 - (1.0 - source.rgb) * (1.0 - min(glow, 1.0)), source.a);
    }
}
