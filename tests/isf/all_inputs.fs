/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Test generator declaring one input of every ISF type",
    "CREDIT": "live test suite",
    "CATEGORIES": ["Test", "Generator"],
    "INPUTS": [
        {"NAME": "brightness", "TYPE": "float", "LABEL": "Brightness",
         "DEFAULT": 0.25, "MIN": 0.0, "MAX": 2.0, "IDENTITY": 1.0},
        {"NAME": "shape", "TYPE": "long", "LABEL": "Shape",
         "VALUES": [0, 1, 2], "LABELS": ["Circle", "Square", "Ring"], "DEFAULT": 1},
        {"NAME": "rings", "TYPE": "long", "MIN": 1, "MAX": 12, "DEFAULT": 4},
        {"NAME": "invert", "TYPE": "bool", "DEFAULT": true},
        {"NAME": "flash", "TYPE": "event"},
        {"NAME": "tint", "TYPE": "color", "DEFAULT": [1.0, 0.5, 0.25, 1.0]},
        {"NAME": "centre", "TYPE": "point2D", "DEFAULT": [0.5, 0.5],
         "MIN": [0.0, 0.0], "MAX": [1.0, 1.0]},
        {"NAME": "overlay", "TYPE": "image"},
        {"NAME": "wave", "TYPE": "audio", "MAX": 256},
        {"NAME": "spectrum", "TYPE": "audioFFT", "MAX": 64}
    ]
}*/

// Rings around `centre`, coloured by the audio and an overlay picture.
void main() {
    vec2 uv = isf_FragNormCoord;
    float d = distance(uv, centre);
    float ring = 0.5 + 0.5 * cos(d * float(rings) * 6.2831 - TIME);
    if (shape == 1) ring = step(0.5, ring);
    float level = IMG_NORM_PIXEL(spectrum, vec2(uv.x, 0.5)).r
                + IMG_PIXEL(wave, vec2(uv.x * IMG_SIZE(wave).x, 0.5)).r;
    vec4 colour = tint * ring * brightness + level * 0.1 + IMG_THIS_PIXEL(overlay) * 0.2;
    if (invert) colour.rgb = 1.0 - colour.rgb;
    if (flash) colour = vec4(1.0);
    colour.rg += DATE.w * 0.0 + TIMEDELTA * 0.0 + float(FRAMEINDEX) * 0.0;
    gl_FragColor = colour * step(0.0, RENDERSIZE.x) + IMG_THIS_NORM_PIXEL(overlay) * 0.0;
}
