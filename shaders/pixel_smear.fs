/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Pixel-sort-like smear: bright pixels drag streaks along a direction, each row (or column) its own length, like a pixel sort interval that keeps the brightest run.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Glitch"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "threshold", "TYPE": "float", "LABEL": "Brightness that streaks", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.3},
        {"NAME": "smearLength", "TYPE": "float", "LABEL": "Streak length (fraction of screen)", "MIN": 0.0, "MAX": 0.6, "DEFAULT": 0.2, "IDENTITY": 0.0},
        {"NAME": "direction", "TYPE": "float", "LABEL": "Direction (radians)", "MIN": 0.0, "MAX": 6.2832, "DEFAULT": 4.7124},
        {"NAME": "rowVariation", "TYPE": "float", "LABEL": "Length varies per row", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.7},
        {"NAME": "speed", "TYPE": "float", "LABEL": "Re-roll speed (per second)", "MIN": 0.0, "MAX": 8.0, "DEFAULT": 1.0}
    ]
}*/

// Cost: nine texture fetches per pixel (the pixel and eight upstream taps); a fixed loop
// that llvmpipe unrolls. Taps spread over a long streak skip pixels, which reads as the
// banded look of a sort rather than a blur.

const int TAPS = 8;

float hashLine(float line, float seed) {
    uint h = uint(int(line)) * 0x9E3779B1u + uint(int(seed)) * 0x85EBCA77u;
    h ^= h >> 15;
    h *= 0x27D4EB2Fu;
    h ^= h >> 13;
    return float(h & 0x00FFFFFFu) / 16777215.0;
}

void main() {
    vec2 uv = isf_FragNormCoord;
    vec2 along = vec2(cos(direction), sin(direction));
    vec2 pixel = uv * RENDERSIZE;
    // the line a streak runs in: the pixel's position across the direction
    float line = floor(dot(pixel, vec2(-along.y, along.x)));
    float length_ = smearLength * mix(1.0, hashLine(line, floor(TIME * speed)), rowVariation);
    vec2 stepUv = -along * length_ / float(TAPS);
    stepUv.x *= RENDERSIZE.y / RENDERSIZE.x;  // the same length in pixels both ways
    vec4 best = IMG_NORM_PIXEL(inputImage, uv);
    float bestKey = dot(best.rgb, vec3(0.2126, 0.7152, 0.0722));
    for (int i = 1; i <= TAPS; i++) {
        vec2 from = uv + stepUv * float(i);
        vec4 tap = IMG_NORM_PIXEL(inputImage, clamp(from, 0.0, 1.0));
        float key = dot(tap.rgb, vec3(0.2126, 0.7152, 0.0722));
        // a bright tap upstream wins over a darker pixel here, fading with distance
        float fade = 1.0 - float(i) / float(TAPS + 1);
        if (key > threshold && key * fade > bestKey) {
            best = vec4(tap.rgb * mix(fade, 1.0, 0.5), tap.a);
            bestKey = key * fade;
        }
    }
    gl_FragColor = best;
}
