/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Palette cycle: brightness becomes hue, in repeating rainbow bands that flow through the picture over time, keeping its light and shade. Psychedelic oil-slick colour for a soft image.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Color"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "bands", "TYPE": "float", "LABEL": "Colour bands over full brightness", "MIN": 0.25, "MAX": 8.0, "DEFAULT": 2.0},
        {"NAME": "speed", "TYPE": "float", "LABEL": "Cycle speed (turns per second)", "MIN": -2.0, "MAX": 2.0, "DEFAULT": 0.2},
        {"NAME": "saturation", "TYPE": "float", "LABEL": "Saturation", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.85},
        {"NAME": "hueOffset", "TYPE": "float", "LABEL": "Hue offset (turns)", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.0},
        {"NAME": "amount", "TYPE": "float", "LABEL": "Amount", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 1.0, "IDENTITY": 0.0}
    ]
}*/

// Cost: one texture fetch per pixel.

vec3 hueToRgb(float hue) {
    // three phase-shifted ramps, clamped: the six-sector hue wheel without branches
    vec3 ramps = abs(fract(hue + vec3(0.0, 2.0 / 3.0, 1.0 / 3.0)) * 6.0 - 3.0) - 1.0;
    return clamp(ramps, 0.0, 1.0);
}

void main() {
    vec4 source = IMG_THIS_NORM_PIXEL(inputImage);
    float grey = dot(source.rgb, vec3(0.2126, 0.7152, 0.0722));
    float hue = grey * bands + TIME * speed + hueOffset;
    float value = max(source.r, max(source.g, source.b));
    vec3 cycled = mix(vec3(1.0), hueToRgb(hue), saturation) * value;
    gl_FragColor = vec4(mix(source.rgb, cycled, amount), source.a);
}
