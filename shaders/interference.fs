/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Interference: circular waves from two or three wandering sources add up into moire bands that swell and shift, shaded between two colours.",
    "CREDIT": "live project",
    "CATEGORIES": ["Generator", "Pattern"],
    "INPUTS": [
        {"NAME": "sourceCount", "TYPE": "long", "LABEL": "Wave sources", "VALUES": [2, 3], "LABELS": ["two", "three"], "DEFAULT": 3},
        {"NAME": "waveDensity", "TYPE": "float", "LABEL": "Wave density (rings across the height)", "MIN": 2.0, "MAX": 80.0, "DEFAULT": 24.0},
        {"NAME": "speed", "TYPE": "float", "LABEL": "Wave speed", "MIN": -4.0, "MAX": 4.0, "DEFAULT": 1.0},
        {"NAME": "wander", "TYPE": "float", "LABEL": "Source wander", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.35},
        {"NAME": "sharpness", "TYPE": "float", "LABEL": "Band sharpness", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.6},
        {"NAME": "colorA", "TYPE": "color", "LABEL": "Crest colour", "DEFAULT": [1.0, 0.95, 0.6, 1.0]},
        {"NAME": "colorB", "TYPE": "color", "LABEL": "Trough colour", "DEFAULT": [0.05, 0.0, 0.25, 1.0]}
    ]
}*/

// Cost: no texture fetches; two or three distances and cosines per pixel.

vec2 sourcePosition(float index, float t) {
    // each source circles on its own slow Lissajous path around its home
    vec2 home = vec2(cos(index * 2.094), sin(index * 2.094)) * 0.35;
    return home + wander * 0.4 * vec2(sin(t * (0.31 + 0.07 * index) + index), cos(t * (0.23 + 0.05 * index) + 2.0 * index));
}

void main() {
    float aspect = RENDERSIZE.x / RENDERSIZE.y;
    vec2 p = (isf_FragNormCoord - 0.5) * vec2(aspect, 1.0);
    float k = waveDensity * 6.2832;
    float phase = TIME * speed * 6.2832;
    float sum = 0.0;
    for (int i = 0; i < 3; i++) {
        if (i >= sourceCount) break;
        sum += cos(length(p - sourcePosition(float(i), TIME)) * k - phase);
    }
    float wave = sum / float(sourceCount);  // -1..1
    // sharpness squeezes the soft cosine towards hard bands
    float band = 0.5 + 0.5 * wave;
    float edge = mix(0.5, 0.02, sharpness);
    band = smoothstep(0.5 - edge, 0.5 + edge, band);
    gl_FragColor = vec4(mix(colorB.rgb, colorA.rgb, band), 1.0);
}
