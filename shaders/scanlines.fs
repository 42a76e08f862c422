/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Scanlines: dark lines between bright ones, an aperture-grille RGB mask, a slow bright roll bar and a little per-line jitter, like a tube monitor or a tired VHS.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Retro"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "lineSpacing", "TYPE": "float", "LABEL": "Line spacing (pixels)", "MIN": 2.0, "MAX": 16.0, "DEFAULT": 4.0},
        {"NAME": "darkness", "TYPE": "float", "LABEL": "Line darkness", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.55},
        {"NAME": "maskAmount", "TYPE": "float", "LABEL": "RGB mask", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.3},
        {"NAME": "rollSpeed", "TYPE": "float", "LABEL": "Roll bar speed (screens per second)", "MIN": -1.0, "MAX": 1.0, "DEFAULT": 0.12},
        {"NAME": "rollBrightness", "TYPE": "float", "LABEL": "Roll bar brightness", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.2},
        {"NAME": "jitter", "TYPE": "float", "LABEL": "Line jitter (pixels)", "MIN": 0.0, "MAX": 8.0, "DEFAULT": 0.5}
    ]
}*/

// Cost: one texture fetch per pixel.

void main() {
    vec2 uv = isf_FragNormCoord;
    vec2 pixel = uv * RENDERSIZE;
    float line = floor(pixel.y / lineSpacing);
    // jitter: each line slides sideways by its own amount, changing 30 times a second
    float wiggle = sin(line * 12.9 + floor(TIME * 30.0) * 4.1) * sin(line * 3.7 - TIME * 9.0);
    vec2 from = vec2(uv.x + wiggle * jitter / RENDERSIZE.x, uv.y);
    vec4 source = IMG_NORM_PIXEL(inputImage, clamp(from, 0.0, 1.0));
    float across = fract(pixel.y / lineSpacing);  // 0..1 through one line
    float profile = 1.0 - darkness * smoothstep(0.25, 0.5, abs(across - 0.5));
    // aperture grille: columns of red, green and blue phosphor three pixels wide
    float column = mod(floor(pixel.x), 3.0);
    vec3 phosphor = vec3(column == 0.0 ? 1.0 : 0.0, column == 1.0 ? 1.0 : 0.0, column == 2.0 ? 1.0 : 0.0);
    vec3 mask = mix(vec3(1.0), phosphor * 2.2 + 0.25, maskAmount);
    float bar = fract(uv.y + TIME * rollSpeed);
    float roll = 1.0 + rollBrightness * smoothstep(0.0, 0.1, bar) * (1.0 - smoothstep(0.1, 0.25, bar));
    gl_FragColor = vec4(source.rgb * profile * mask * roll, source.a);
}
